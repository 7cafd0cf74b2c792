// The raw client and the fixture of the framing tests. The client's response reader is
// strict where the proxy must be exact (CRLF line ends, one framing), so anything the
// proxy sends beyond an answer is left over and seen.
#include "tests/integration/framing_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace plextap::itest {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

using boost::beast::iequals;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The last coding of a Transfer-Encoding value ("gzip, chunked" -> "chunked").
std::string_view last_coding(std::string_view value) {
  auto comma = value.rfind(',');
  return trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
}

struct ParsedResponse {
  bool done = false;
  WireResponse res;
  std::size_t consumed = 0;
};

// One response from the front of `buf`; `closed`: no more bytes will come.
ParsedResponse parse_response(std::string_view buf, bool head_request, bool closed) {
  ParsedResponse p;
  auto head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return p;
  auto head = buf.substr(0, head_end + 2);
  auto eol = head.find("\r\n");
  auto status_line = head.substr(0, eol);
  if (status_line.size() >= 12 && status_line.starts_with("HTTP/1."))
    p.res.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  for (auto pos = eol + 2; pos < head.size();) {
    auto end = head.find("\r\n", pos);
    auto line = head.substr(pos, end - pos);
    pos = end + 2;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    p.res.headers.emplace_back(std::string(line.substr(0, colon)),
                               std::string(trim(line.substr(colon + 1))));
  }
  std::size_t pos = head_end + 4;
  const int s = p.res.status;
  if (head_request || s / 100 == 1 || s == 204 || s == 304) {
    p.done = true;
    p.consumed = pos;
    return p;
  }
  const auto te = p.res.header("Transfer-Encoding");
  const auto length = p.res.header("Content-Length");
  if (!te.empty() && iequals(last_coding(te), "chunked")) {
    for (;;) {
      auto line_end = buf.find("\r\n", pos);
      if (line_end == std::string_view::npos) return p;
      std::string size_text(buf.substr(pos, line_end - pos));
      char* stop = nullptr;
      auto size = std::strtoull(size_text.c_str(), &stop, 16);
      if (stop == size_text.c_str()) return p;  // not a chunk: never complete
      pos = line_end + 2;
      if (size == 0) {
        for (;;) {  // trailer fields, up to the empty line
          auto end = buf.find("\r\n", pos);
          if (end == std::string_view::npos) return p;
          bool empty = end == pos;
          pos = end + 2;
          if (empty) break;
        }
        break;
      }
      if (buf.size() < pos + size + 2) return p;
      p.res.body.append(buf.substr(pos, size));
      pos += size;
      if (buf.substr(pos, 2) != "\r\n") return p;
      pos += 2;
    }
  } else if (te.empty() && !length.empty()) {
    auto size = std::strtoull(length.c_str(), nullptr, 10);
    if (buf.size() - pos < size) return p;
    p.res.body.assign(buf.substr(pos, size));
    pos += size;
  } else {
    if (!closed) return p;  // delimited by the close
    p.res.body.assign(buf.substr(pos));
    pos = buf.size();
  }
  p.done = true;
  p.consumed = pos;
  return p;
}

bool wait_ready(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

}  // namespace

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

// ---- WireResponse ----

std::string WireResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return {};
}

std::size_t WireResponse::count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const auto& h) { return iequals(h.first, name); }));
}

// ---- Wire ----

Wire::Wire(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::system_error(err, std::generic_category(), "connect");
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

Wire::~Wire() {
  close();
}

void Wire::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Wire::send(std::string_view bytes) {
  auto deadline = Clock::now() + 5s;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (!wait_ready(fd_, POLLOUT, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

Wire::Fill Wire::fill(Clock::time_point deadline) {
  if (peer_closed_ || fd_ < 0) return Fill::closed;
  if (!wait_ready(fd_, POLLIN, deadline)) return Fill::timeout;
  char buf[16 * 1024];
  ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
  if (n > 0) {
    buf_.append(buf, static_cast<std::size_t>(n));
    return Fill::data;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Fill::data;
  peer_closed_ = true;
  return Fill::closed;
}

WireResponse Wire::read_response(std::chrono::milliseconds limit, bool head_request) {
  auto deadline = Clock::now() + limit;
  for (;;) {
    auto p = parse_response(buf_, head_request, peer_closed_);
    if (p.done) {
      p.res.complete = true;
      p.res.raw = buf_.substr(0, p.consumed);
      buf_.erase(0, p.consumed);
      return p.res;
    }
    if (peer_closed_ || fill(deadline) == Fill::timeout) {
      p.res.raw = std::move(buf_);
      buf_.clear();
      return p.res;
    }
  }
}

bool Wire::read_until(std::string_view needle, std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  for (;;) {
    if (buf_.find(needle) != std::string::npos) return true;
    if (peer_closed_ || fill(deadline) == Fill::timeout) return false;
  }
}

bool Wire::closed_within(std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (!peer_closed_) {
    if (fill(deadline) == Fill::timeout) return false;
  }
  return true;
}

// ---- FramingTest ----

FramingTest::FramingTest() {
  std::signal(SIGPIPE, SIG_IGN);  // a peer closing mid-write fails the write, not the binary
}

void FramingTest::TearDown() {
  if (!HasFailure()) return;
  std::printf("---- upstream ----\n%s", upstream.describe().c_str());
  if (proxy)
    std::printf("---- plextap stderr ----\n%s------------------------\n",
                proxy->stderr_text().c_str());
}

void FramingTest::start(std::vector<std::string> extra) {
  extra.insert(extra.begin(), {"--threads", "1"});
  proxy = std::make_unique<PlextapProcess>(upstream.port(), extra);
}

std::uint64_t FramingTest::expect_b_gets_its_own_answer() {
  Wire b(http_port());
  EXPECT_TRUE(b.send("GET /b-marker HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n"));
  auto res = b.read_response(5s);
  EXPECT_TRUE(res.complete) << "B got no complete answer: " << escape_bytes(res.raw);
  EXPECT_EQ(res.status, 200) << "B got: " << escape_bytes(res.raw);
  EXPECT_NE(res.body.find("GET /b-marker on connection"), std::string::npos)
      << "B got an answer that is not its own: " << escape_bytes(res.raw);
  EXPECT_TRUE(b.closed_within(2s)) << "B asked for Connection: close";
  EXPECT_EQ(b.unread(), "") << "bytes after B's answer: " << escape_bytes(b.unread());
  auto seen = upstream.requests_to("/b-marker");
  EXPECT_EQ(seen.size(), 1u) << "the upstream should see B's request exactly once";
  return seen.empty() ? 0 : seen.front().connection;
}

void FramingTest::expect_refused(Wire& a, const std::vector<int>& statuses, bool closes) {
  auto res = a.read_response(3s);
  std::string wanted;
  for (int s : statuses) wanted += (wanted.empty() ? "" : " or ") + std::to_string(s);
  EXPECT_TRUE(res.complete &&
              std::find(statuses.begin(), statuses.end(), res.status) != statuses.end())
      << "A should get " << wanted << ", got: " << escape_bytes(res.raw);
  if (closes) {
    EXPECT_TRUE(a.closed_within(2s)) << "A's connection left open after its " << res.status;
  }
}

void FramingTest::expect_upstream_saw_only(std::initializer_list<std::string_view> targets) {
  for (const auto& r : upstream.requests()) {
    if (std::find(targets.begin(), targets.end(), r.target) != targets.end()) continue;
    ADD_FAILURE() << "the upstream parsed a request it should never have seen: " << r.method << " "
                  << r.target << " (connection " << r.connection << ", request " << r.nth
                  << "), from: " << escape_bytes(r.raw, 500);
  }
}

std::uint64_t FramingTest::connection_of(std::string_view path) const {
  auto seen = upstream.requests_to(path);
  return seen.empty() ? 0 : seen.front().connection;
}

}  // namespace plextap::itest
