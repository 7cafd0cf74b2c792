// The lenient stand-in server: plain POSIX sockets, a thread per connection, and a
// parser that believes whatever it can read into a request (see raw_upstream.hpp).
// No call blocks for more than 50 ms at a time, so stop() needs only a flag.
// Long on purpose: the lenient parser is the point, and it reads best in one piece.
#include "tests/integration/raw_upstream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/beast/core/string.hpp>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace plextap::itest {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kMaxPending = 8 * 1024 * 1024;  // a connection sending more is cut off
constexpr std::size_t kMaxRecorded = 1024 * 1024;     // bytes kept per connection
constexpr auto kSlice = 50ms;                         // longest single wait

using boost::beast::iequals;

bool icontains(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i)
    if (iequals(haystack.substr(i, needle.size()), needle)) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The line at `pos` without its LF (and CR); false while no whole line has arrived.
bool next_line(std::string_view buf, std::size_t& pos, std::string_view& line) {
  auto nl = buf.find('\n', pos);
  if (nl == std::string_view::npos) return false;
  line = buf.substr(pos, nl - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  pos = nl + 1;
  return true;
}

struct ParseResult {
  bool done = false;       // else more bytes are needed
  bool head_done = false;  // the head is complete (a partial request is worth recording)
  ParsedRequest req;       // so far, when not done
  std::size_t start = 0;   // where the request line begins
  std::size_t consumed = 0;
};

// One request from the front of `buf`, read as a naive server would.
ParseResult parse_request(std::string_view buf) {
  ParseResult r;
  std::size_t pos = 0;
  while (pos < buf.size() && (buf[pos] == '\r' || buf[pos] == '\n')) ++pos;  // RFC 9112 2.2
  r.start = pos;
  std::string_view line;
  if (!next_line(buf, pos, line)) return r;
  {
    auto sp1 = line.find(' ');
    r.req.method = std::string(line.substr(0, sp1));
    if (sp1 != std::string_view::npos) {
      auto rest = line.substr(sp1 + 1);
      auto sp2 = rest.find(' ');
      r.req.target = std::string(rest.substr(0, sp2));
      if (sp2 != std::string_view::npos) r.req.version = std::string(trim(rest.substr(sp2 + 1)));
    }
  }
  for (;;) {
    if (!next_line(buf, pos, line)) return r;
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a field: skipped, not refused
    r.req.headers.emplace_back(std::string(trim(line.substr(0, colon))),
                               std::string(trim(line.substr(colon + 1))));
  }
  r.head_done = true;

  bool chunked = false;
  std::optional<std::string> length;
  for (const auto& [name, value] : r.req.headers) {
    if (iequals(name, "Transfer-Encoding") && icontains(value, "chunked")) chunked = true;
    if (iequals(name, "Content-Length") && !length) length = value;
  }
  if (chunked) {
    for (;;) {
      if (!next_line(buf, pos, line)) return r;
      std::string size_text(trim(line));
      auto size = std::strtoull(size_text.c_str(), nullptr, 16);  // extensions ignored
      if (size == 0) {
        for (;;) {  // trailer fields, up to the empty line
          if (!next_line(buf, pos, line)) return r;
          if (line.empty()) break;
        }
        break;
      }
      if (buf.size() - pos < size) {
        r.req.body.append(buf.substr(pos));
        return r;
      }
      r.req.body.append(buf.substr(pos, size));
      pos += size;
      // The CRLF after the data, leniently: CR and LF are each optional.
      if (pos == buf.size()) return r;
      if (buf[pos] == '\r') {
        if (pos + 1 == buf.size()) return r;
        ++pos;
      }
      if (buf[pos] == '\n') ++pos;
    }
  } else if (length) {
    long long n = std::strtoll(length->c_str(), nullptr, 10);  // "5a" is 5, "0x5" is 0
    auto size = static_cast<std::size_t>(std::max(0LL, n));
    if (buf.size() - pos < size) {
      r.req.body.assign(buf.substr(pos));
      return r;
    }
    r.req.body.assign(buf.substr(pos, size));
    pos += size;
  }
  r.done = true;
  r.consumed = pos;
  return r;
}

std::string status_line_for(std::string_view body, bool head) {
  std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n";
  if (!head) out.append(body);
  return out;
}

}  // namespace

// ---- ParsedRequest ----

std::string ParsedRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return {};
}

std::vector<std::string> ParsedRequest::values(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) out.push_back(v);
  return out;
}

std::string ParsedRequest::path() const {
  return target.substr(0, target.find('?'));
}

// ---- Action ----

RawUpstream::Action RawUpstream::Action::send(std::string bytes, Then then) {
  Action a;
  a.writes.push_back({0ms, std::move(bytes)});
  a.then = then;
  return a;
}

RawUpstream::Action RawUpstream::Action::send_after(std::chrono::milliseconds delay,
                                                    std::string bytes, Then then) {
  Action a;
  a.writes.push_back({delay, std::move(bytes)});
  a.then = then;
  return a;
}

RawUpstream::Action RawUpstream::Action::close_silently() {
  Action a;
  a.then = Then::close;
  return a;
}

RawUpstream::Action RawUpstream::Action::events(std::string head, std::string event,
                                                std::chrono::milliseconds every) {
  Action a;
  a.writes.push_back({0ms, std::move(head)});
  a.then = Then::events;
  a.event = std::move(event);
  a.every = every;
  return a;
}

RawUpstream::Action RawUpstream::Action::hold(std::string head) {
  Action a;
  if (!head.empty()) a.writes.push_back({0ms, std::move(head)});
  a.then = Then::hold;
  return a;
}

RawUpstream::Action& RawUpstream::Action::then_send(std::chrono::milliseconds after,
                                                    std::string bytes) {
  writes.push_back({after, std::move(bytes)});
  return *this;
}

// ---- RawUpstream ----

struct RawUpstream::Impl {
  int listen_fd = -1;
  std::uint16_t port = 0;
  Clock::time_point created = Clock::now();
  std::atomic<bool> stopping{false};
  std::thread accept_thread;

  mutable std::mutex mu;
  mutable std::condition_variable changed;  // a request parsed or a connection closed
  std::vector<std::thread> threads;
  std::vector<ParsedRequest> requests;
  std::vector<ConnectionRecord> conns;  // connection id - 1
  Script script;

  class Peer;
  void accept_loop();
  void serve(int fd, std::uint64_t id);
};

// One accepted connection, driven by its own thread.
class RawUpstream::Impl::Peer {
 public:
  enum class Read { data, closed, stopped };

  Peer(int fd, std::uint64_t id, Impl& impl) : fd_(fd), id_(id), impl_(impl) {}

  std::string pending;  // read, not yet parsed

  // Waits for bytes (appended to `pending`) or the end of the connection.
  Read read_more() {
    for (;;) {
      if (impl_.stopping) return Read::stopped;
      auto r = poll_once(kSlice);
      if (r) return *r;
    }
  }

  // Waits `d`, taking in whatever arrives; false if the peer closed or stop() came.
  bool pause(std::chrono::milliseconds d) {
    auto deadline = Clock::now() + d;
    for (;;) {
      if (impl_.stopping) return false;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return true;
      auto r = poll_once(std::min<std::chrono::milliseconds>(left, kSlice));
      if (r && *r != Read::data) return false;
    }
  }

  bool send_all(std::string_view bytes) {
    auto deadline = Clock::now() + 5s;
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (impl_.stopping || Clock::now() >= deadline) return false;
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, static_cast<int>(kSlice.count()));
        continue;
      }
      peer_closed();
      return false;
    }
    return true;
  }

  // Runs a script's action; true if the connection stays for another request.
  bool run(const RawUpstream::Action& a) {
    using Then = RawUpstream::Action::Then;
    for (const auto& w : a.writes) {
      if (w.after.count() > 0 && !pause(w.after)) return false;
      if (!send_all(w.bytes)) return false;
    }
    switch (a.then) {
      case Then::keep:
        return true;
      case Then::close:
        return false;
      case Then::events: {
        auto end = Clock::now() + RawUpstream::kMaxHold;
        while (Clock::now() < end) {
          if (!pause(a.every) || !send_all(a.event)) return false;
        }
        return false;
      }
      case Then::hold:
        pause(RawUpstream::kMaxHold);
        return false;
    }
    return false;
  }

  void peer_closed() {
    std::lock_guard lock(impl_.mu);
    auto& rec = impl_.conns[id_ - 1];
    if (!rec.peer_closed_at) rec.peer_closed_at = Clock::now();
    impl_.changed.notify_all();
  }

 private:
  // One wait of at most `d`: nothing if no event came.
  std::optional<Read> poll_once(std::chrono::milliseconds d) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(d.count()));
    if (r <= 0) return std::nullopt;
    char buf[16 * 1024];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      pending.append(buf, static_cast<std::size_t>(n));
      std::lock_guard lock(impl_.mu);
      auto& rec = impl_.conns[id_ - 1].received;
      if (rec.size() < kMaxRecorded)
        rec.append(buf, std::min(static_cast<std::size_t>(n), kMaxRecorded - rec.size()));
      if (pending.size() > kMaxPending) return Read::closed;
      return Read::data;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return std::nullopt;
    peer_closed();
    return Read::closed;
  }

  int fd_;
  std::uint64_t id_;
  Impl& impl_;
};

RawUpstream::RawUpstream() : impl_(std::make_unique<Impl>()) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "listen");
  }
  impl_->listen_fd = fd;
  impl_->port = ntohs(addr.sin_port);
  impl_->accept_thread = std::thread([impl = impl_.get()] { impl->accept_loop(); });
}

RawUpstream::~RawUpstream() {
  stop();
}

std::uint16_t RawUpstream::port() const {
  return impl_->port;
}

void RawUpstream::script(Script s) {
  std::lock_guard lock(impl_->mu);
  impl_->script = std::move(s);
}

std::string RawUpstream::echo_body(const ParsedRequest& req) {
  return req.method + " " + req.target + " on connection " + std::to_string(req.connection) +
         ", request " + std::to_string(req.nth);
}

RawUpstream::Action RawUpstream::echo(const ParsedRequest& req) {
  return Action::send(status_line_for(echo_body(req), req.method == "HEAD"));
}

std::vector<ParsedRequest> RawUpstream::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

std::vector<ParsedRequest> RawUpstream::requests_to(std::string_view path) const {
  std::vector<ParsedRequest> out;
  std::lock_guard lock(impl_->mu);
  for (const auto& r : impl_->requests)
    if (r.path() == path) out.push_back(r);
  return out;
}

std::size_t RawUpstream::count(std::string_view path) const {
  return requests_to(path).size();
}

std::vector<RawUpstream::ConnectionRecord> RawUpstream::connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->conns;
}

std::optional<RawUpstream::ConnectionRecord> RawUpstream::connection(std::uint64_t id) const {
  std::lock_guard lock(impl_->mu);
  if (id == 0 || id > impl_->conns.size()) return std::nullopt;
  return impl_->conns[id - 1];
}

std::uint64_t RawUpstream::connections_accepted() const {
  std::lock_guard lock(impl_->mu);
  return impl_->conns.size();
}

bool RawUpstream::wait_requests(std::size_t n, std::chrono::milliseconds limit) const {
  std::unique_lock lock(impl_->mu);
  return impl_->changed.wait_for(lock, limit, [&] { return impl_->requests.size() >= n; });
}

std::optional<Clock::time_point> RawUpstream::wait_peer_closed(
    std::uint64_t id, std::chrono::milliseconds limit) const {
  std::unique_lock lock(impl_->mu);
  impl_->changed.wait_for(lock, limit, [&] {
    return id >= 1 && id <= impl_->conns.size() && impl_->conns[id - 1].peer_closed_at;
  });
  if (id == 0 || id > impl_->conns.size()) return std::nullopt;
  return impl_->conns[id - 1].peer_closed_at;
}

std::string RawUpstream::describe() const {
  std::lock_guard lock(impl_->mu);
  auto at = [&](Clock::time_point t) {
    char text[32];
    std::snprintf(
        text, sizeof text, "+%lld ms",
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(t - impl_->created).count()));
    return std::string(text);
  };
  std::string out = "upstream saw " + std::to_string(impl_->conns.size()) + " connection(s), " +
                    std::to_string(impl_->requests.size()) + " request(s)\n";
  for (const auto& c : impl_->conns) {
    out += "connection " + std::to_string(c.id) + ": accepted " + at(c.accepted_at);
    if (c.peer_closed_at)
      out += ", closed by the proxy " + at(*c.peer_closed_at);
    else if (c.closed_by_server)
      out += ", closed by this server";
    else
      out += ", open";
    out += "; received " + std::to_string(c.received.size()) +
           " bytes: " + escape_bytes(c.received, 1500) + "\n";
    for (const auto& r : impl_->requests) {
      if (r.connection != c.id) continue;
      out += "  request " + std::to_string(r.nth) + " at " + at(r.received_at) + ": " + r.method +
             " " + r.target + " " + r.version + (r.complete ? "" : " (incomplete)") + "\n";
      for (const auto& [n, v] : r.headers) out += "    " + n + ": " + v + "\n";
      out +=
          "    body (" + std::to_string(r.body.size()) + "): " + escape_bytes(r.body, 300) + "\n";
    }
  }
  return out;
}

void RawUpstream::stop() {
  if (impl_->stopping.exchange(true)) return;
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(impl_->mu);
    threads.swap(impl_->threads);
  }
  for (auto& t : threads) t.join();
  ::close(impl_->listen_fd);
}

void RawUpstream::Impl::accept_loop() {
  while (!stopping) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(kSlice.count())) <= 0) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mu);
    ConnectionRecord rec;
    rec.id = conns.size() + 1;
    rec.accepted_at = Clock::now();
    conns.push_back(rec);
    threads.emplace_back([this, fd, id = rec.id] { serve(fd, id); });
  }
}

void RawUpstream::Impl::serve(int fd, std::uint64_t id) {
  Peer peer(fd, id, *this);
  std::size_t nth = 0;
  for (bool open = true; open && !stopping;) {
    auto parsed = parse_request(peer.pending);
    if (!parsed.done) {
      auto got = peer.read_more();
      if (got == Peer::Read::data) continue;
      if (got == Peer::Read::closed && parsed.head_done) {
        // A head and part of a body, then the peer left: worth seeing in a failure.
        auto& req = parsed.req;
        req.raw = peer.pending.substr(parsed.start);
        req.complete = false;
        req.connection = id;
        req.nth = ++nth;
        req.received_at = Clock::now();
        std::lock_guard lock(mu);
        requests.push_back(std::move(req));
        changed.notify_all();
      }
      break;
    }
    auto req = std::move(parsed.req);
    req.raw = peer.pending.substr(parsed.start, parsed.consumed - parsed.start);
    req.connection = id;
    req.nth = ++nth;
    req.received_at = Clock::now();
    peer.pending.erase(0, parsed.consumed);
    Script s;
    {
      std::lock_guard lock(mu);
      requests.push_back(req);
      s = script;
      changed.notify_all();
    }
    open = peer.run(s ? s(req, id, req.nth) : RawUpstream::echo(req));
  }
  {
    std::lock_guard lock(mu);
    if (!conns[id - 1].peer_closed_at) conns[id - 1].closed_by_server = true;
    changed.notify_all();
  }
  ::close(fd);
}

std::string escape_bytes(std::string_view bytes, std::size_t max) {
  std::string out;
  const auto shown = std::min(bytes.size(), max);
  for (std::size_t i = 0; i < shown; ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c >= 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (shown < bytes.size()) out += "...(" + std::to_string(bytes.size() - shown) + " more bytes)";
  return out;
}

}  // namespace plextap::itest
