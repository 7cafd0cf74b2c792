// The stand-in upstream: blocking Beast on a thread per connection, because a test
// server should be obvious rather than fast. Paths it answers:
//   /small         200, a short XML body with Content-Length
//   /chunked       200, chunk_pieces() as separate chunks
//   /echo          200, the request body (and Content-Type) back, any method
//   /bytes?n=N     N pattern bytes (common.hpp), Range: bytes=a-b gives 206; streamed
//   /head-check    Content-Length: 1234 (no body for HEAD)
//   /sse           text/event-stream, chunked: three events 300 ms apart, then stays open
//   /silent        never answers
//   /slow?ms=N     200 after N ms
//   /gzip          gzip_bytes() with Content-Encoding: gzip if the client accepts gzip
//   /:/websockets/notifications  WebSocket: one message of its own, then echoes (with
//                  serve_as_server: a `playing` notification per /:/timeline request)
//   /status/sessions, /statistics/resources, /   with serve_as_server only (see there)
//   anything else  404
// A path registered with answer() gets its canned answer instead (method-specific
// first, then any method), whatever the built-in table says, after its delay if it has one.
// stop() shuts every socket down (waking blocked reads and writes) and joins the threads.
// Long on purpose: every path the tests need is answered here, in one obvious server.
#include "tests/integration/upstream.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <zlib.h>

#include <array>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "tests/integration/common.hpp"

namespace plextap::itest {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using boost::system::error_code;
using net::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

std::string gzip(std::string_view in) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  return out;
}

// The decimal value of query parameter `name` in `target`, or `fallback`.
std::uint64_t query_number(std::string_view target, std::string_view name, std::uint64_t fallback) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return fallback;
  auto query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=') {
      std::uint64_t value = fallback;
      auto digits = pair.substr(name.size() + 1);
      std::from_chars(digits.data(), digits.data() + digits.size(), value);
      return value;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return fallback;
}

// "bytes=a-b" or "bytes=a-" against a body of `size` bytes: the inclusive range.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_range(std::string_view value,
                                                                   std::uint64_t size) {
  if (!value.starts_with("bytes=")) return std::nullopt;
  value.remove_prefix(6);
  auto dash = value.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::uint64_t first = 0, last = size ? size - 1 : 0;
  auto a = value.substr(0, dash), b = value.substr(dash + 1);
  if (std::from_chars(a.data(), a.data() + a.size(), first).ec != std::errc{}) return std::nullopt;
  if (!b.empty() && std::from_chars(b.data(), b.data() + b.size(), last).ec != std::errc{})
    return std::nullopt;
  if (last >= size) last = size - 1;
  if (first >= size || first > last) return std::nullopt;
  return std::make_pair(first, last);
}

// Whether a header value lists `token` (lower case), in any letter case.
bool header_names(beast::string_view value, std::string_view token) {
  std::string lower(value.data(), value.size());
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find(token) != std::string::npos;
}

std::string chunk(std::string_view data) {
  char size[32];
  auto [end, ec] = std::to_chars(size, size + sizeof size, data.size(), 16);
  (void)ec;
  std::string out(size, end);
  out += "\r\n";
  out += data;
  out += "\r\n";
  return out;
}

}  // namespace

std::string RecordedRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (beast::iequals(n, name)) return v;
  return {};
}

bool RecordedRequest::has_header(std::string_view name) const {
  for (const auto& h : headers)
    if (beast::iequals(h.first, name)) return true;
  return false;
}

const std::vector<std::string>& StandInUpstream::chunk_pieces() {
  static const std::vector<std::string> pieces{"<MediaContainer size=\"3\">",
                                               "<Directory key=\"1\"/>", std::string(5000, 'x'),
                                               "</MediaContainer>"};
  return pieces;
}

std::string StandInUpstream::chunked_body() {
  std::string all;
  for (const auto& p : chunk_pieces()) all += p;
  return all;
}

const std::string& StandInUpstream::gzip_plain() {
  static const std::string plain = [] {
    std::string s = "<MediaContainer size=\"200\">";
    for (int i = 0; i < 200; ++i)
      s += "<Video ratingKey=\"" + std::to_string(i) + "\" title=\"Episode " + std::to_string(i) +
           "\"/>";
    return s + "</MediaContainer>";
  }();
  return plain;
}

const std::string& StandInUpstream::gzip_bytes() {
  static const std::string bytes = gzip(gzip_plain());
  return bytes;
}

// A canned answer with its compressed forms made once, at registration.
struct Prepared {
  StandInUpstream::Canned canned;
  std::string gzip_body, gzip_json_body;  // empty unless gzip_when_accepted
};

struct StandInUpstream::Impl {
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::uint16_t port = 0;
  std::thread accept_thread;

  mutable std::mutex mu;
  std::condition_variable stop_cv;
  std::atomic<bool> stopping{false};  // set under mu, so hold() cannot miss the wake-up
  std::set<int> live_fds;             // connections stop() must wake; under mu
  std::vector<std::thread> threads;
  std::vector<RecordedRequest> requests;
  std::array<std::optional<Clock::time_point>, 4> sse_sent;
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> aborted{0};
  std::atomic<std::uint64_t> canned_served{0};
  // (method or "" for any, path) -> answer; under mu.
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const Prepared>> canned;

  // serve_as_server: the plays seen through /:/timeline, by client, and the open
  // notification websockets with what is queued for each; all under mu.
  struct Play {
    std::string client, product, rating_key, state, session_key;
    std::uint64_t time = 0, duration = 0;
  };
  struct Listener {
    std::deque<std::string> out;
    bool drop = false;
  };
  std::string server_token;
  std::map<std::string, Play> plays;
  std::set<std::shared_ptr<Listener>> listeners;

  bool authorized(const http::request<http::string_body>& req) const;
  void saw_timeline(const http::request<http::string_body>& req);
  void feed_notifications(websocket::stream<tcp::socket>& ws);
  bool send_server(tcp::socket& s, const http::request<http::string_body>& req,
                   std::string_view path, bool keep);

  void accept_loop();
  void serve(tcp::socket socket, std::uint64_t id);
  void serve_websocket(tcp::socket socket, const http::request<http::string_body>& req);
  bool respond(tcp::socket& s, const http::request<http::string_body>& req);
  std::shared_ptr<const Prepared> canned_for(std::string_view method, std::string_view path) const;
  bool send_canned(tcp::socket& s, const http::request<http::string_body>& req,
                   const Prepared& answer, bool keep);
  bool send_bytes(tcp::socket& s, const http::request<http::string_body>& req, bool keep);
  bool send_sse(tcp::socket& s, bool keep);
  bool send_chunked(tcp::socket& s, bool keep);
  bool write(tcp::socket& s, std::string_view bytes);
  template <class Body>
  bool write(tcp::socket& s, http::response<Body>& res);
  bool hold(tcp::socket& s, std::chrono::milliseconds d);
  void unregister(int fd);
  void record(const http::request<http::string_body>& req, std::uint64_t id);
};

StandInUpstream::StandInUpstream() : impl_(std::make_unique<Impl>()) {
  auto& a = impl_->acceptor;
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  a.open(ep.protocol());
  a.set_option(net::socket_base::reuse_address(true));
  a.bind(ep);
  a.listen();
  impl_->port = a.local_endpoint().port();
  impl_->accept_thread = std::thread([impl = impl_.get()] { impl->accept_loop(); });
}

StandInUpstream::~StandInUpstream() {
  stop();
}

std::uint16_t StandInUpstream::port() const {
  return impl_->port;
}

void StandInUpstream::answer(std::string path, Canned canned) {
  answer(std::string(), std::move(path), std::move(canned));
}

void StandInUpstream::answer(std::string method, std::string path, Canned canned) {
  auto prepared = std::make_shared<Prepared>();
  if (canned.gzip_when_accepted) {
    if (!canned.body.empty()) prepared->gzip_body = gzip(canned.body);
    if (!canned.json_body.empty()) prepared->gzip_json_body = gzip(canned.json_body);
  }
  prepared->canned = std::move(canned);
  std::lock_guard lock(impl_->mu);
  impl_->canned[{std::move(method), std::move(path)}] = std::move(prepared);
}

std::uint64_t StandInUpstream::canned_answers() const {
  return impl_->canned_served.load();
}

std::vector<RecordedRequest> StandInUpstream::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

std::vector<RecordedRequest> StandInUpstream::requests_to(std::string_view path) const {
  std::vector<RecordedRequest> out;
  std::lock_guard lock(impl_->mu);
  for (const auto& r : impl_->requests)
    if (std::string_view(r.target).substr(0, r.target.find('?')) == path) out.push_back(r);
  return out;
}

std::size_t StandInUpstream::count(std::string_view path) const {
  std::size_t n = 0;
  std::lock_guard lock(impl_->mu);
  for (const auto& r : impl_->requests)
    if (std::string_view(r.target).substr(0, r.target.find('?')) == path) ++n;
  return n;
}

std::optional<RecordedRequest> StandInUpstream::find(std::string_view target) const {
  std::lock_guard lock(impl_->mu);
  for (auto it = impl_->requests.rbegin(); it != impl_->requests.rend(); ++it)
    if (it->target == target) return *it;
  return std::nullopt;
}

std::uint64_t StandInUpstream::connections_accepted() const {
  return impl_->accepted.load();
}
std::uint64_t StandInUpstream::aborted_responses() const {
  return impl_->aborted.load();
}

std::optional<Clock::time_point> StandInUpstream::sse_sent_at(int n) const {
  std::lock_guard lock(impl_->mu);
  if (n < 1 || n > 3) return std::nullopt;
  return impl_->sse_sent[static_cast<std::size_t>(n)];
}

void StandInUpstream::serve_as_server(std::string token) {
  std::lock_guard lock(impl_->mu);
  impl_->server_token = std::move(token);
}

std::size_t StandInUpstream::notification_listeners() const {
  std::lock_guard lock(impl_->mu);
  return impl_->listeners.size();
}

void StandInUpstream::drop_notifications() {
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& l : impl_->listeners) l->drop = true;
  }
  impl_->stop_cv.notify_all();
}

void StandInUpstream::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
    for (int fd : impl_->live_fds) ::shutdown(fd, SHUT_RDWR);
  }
  impl_->stop_cv.notify_all();
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(impl_->mu);
    threads.swap(impl_->threads);
  }
  for (auto& t : threads) t.join();
  error_code ignored;
  impl_->acceptor.close(ignored);
}

void StandInUpstream::Impl::accept_loop() {
  while (!stopping) {
    // Poll with a short timeout so stop() never has to interrupt a blocking accept.
    pollfd p{acceptor.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    tcp::socket socket(ioc);
    error_code ec;
    acceptor.accept(socket, ec);
    if (ec) continue;
    auto id = ++accepted;
    std::lock_guard lock(mu);
    if (stopping) break;
    live_fds.insert(socket.native_handle());
    threads.emplace_back([this, s = std::move(socket), id]() mutable { serve(std::move(s), id); });
  }
}

void StandInUpstream::Impl::unregister(int fd) {
  std::lock_guard lock(mu);
  live_fds.erase(fd);
}

void StandInUpstream::Impl::record(const http::request<http::string_body>& req, std::uint64_t id) {
  RecordedRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  for (const auto& f : req) r.headers.emplace_back(f.name_string(), f.value());
  r.body = req.body();
  r.connection = id;
  {
    std::lock_guard lock(mu);
    requests.push_back(std::move(r));
  }
  const std::string_view target(req.target().data(), req.target().size());
  if (target.substr(0, target.find('?')) == "/:/timeline") saw_timeline(req);
}

void StandInUpstream::Impl::serve(tcp::socket socket, std::uint64_t id) {
  const int fd = socket.native_handle();
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(1024 * 1024);
    parser.body_limit(boost::none);
    error_code ec;
    http::read(socket, buffer, parser, ec);
    if (ec) break;
    auto req = parser.release();
    record(req, id);
    if (websocket::is_upgrade(req)) {
      serve_websocket(std::move(socket), req);
      return;
    }
    if (!respond(socket, req)) break;
  }
  unregister(fd);
  error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void StandInUpstream::Impl::serve_websocket(tcp::socket socket,
                                            const http::request<http::string_body>& req) {
  const int fd = socket.native_handle();
  websocket::stream<tcp::socket> ws(std::move(socket));
  error_code ec;
  const bool feed = [&] {
    std::lock_guard lock(mu);
    return !server_token.empty();
  }();
  if (feed && req.target().starts_with("/:/websockets/notifications")) {
    if (authorized(req)) {
      ws.accept(req, ec);
      if (!ec) feed_notifications(ws);
    } else {
      http::response<http::string_body> res{http::status::unauthorized, 11};
      res.set(http::field::content_type, "text/html");
      res.body() = "<html><body>401 Unauthorized</body></html>";
      res.prepare_payload();
      res.keep_alive(false);
      http::write(ws.next_layer(), res, ec);
    }
    ec = net::error::operation_aborted;
  } else if (req.target().starts_with("/:/websockets/notifications")) {
    ws.accept(req, ec);
  } else {
    ec = net::error::operation_not_supported;
  }
  if (!ec) {
    ws.text(true);
    ws.write(net::buffer(kNotification), ec);
  }
  while (!ec) {
    beast::flat_buffer message;
    ws.read(message, ec);
    if (ec) break;
    ws.text(ws.got_text());
    ws.write(message.data(), ec);
  }
  unregister(fd);  // before the socket closes, so stop() never touches a reused fd
  error_code ignored;
  ws.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  ws.next_layer().close(ignored);
}

bool StandInUpstream::Impl::write(tcp::socket& s, std::string_view bytes) {
  error_code ec;
  net::write(s, net::buffer(bytes.data(), bytes.size()), ec);
  if (ec) ++aborted;
  return !ec;
}

template <class Body>
bool StandInUpstream::Impl::write(tcp::socket& s, http::response<Body>& res) {
  error_code ec;
  http::write(s, res, ec);
  if (ec) ++aborted;
  return !ec;
}

// Waits `d` unless stop() is called or the peer closes (then false).
bool StandInUpstream::Impl::hold(tcp::socket& s, std::chrono::milliseconds d) {
  auto deadline = Clock::now() + d;
  std::unique_lock lock(mu);
  while (!stopping) {
    auto now = Clock::now();
    if (now >= deadline) return true;
    char byte;
    ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return false;
    stop_cv.wait_for(lock, std::min<Clock::duration>(deadline - now, 50ms));
  }
  return false;
}

std::shared_ptr<const Prepared> StandInUpstream::Impl::canned_for(std::string_view method,
                                                                  std::string_view path) const {
  std::lock_guard lock(mu);
  if (canned.empty()) return nullptr;
  auto it = canned.find({std::string(method), std::string(path)});
  if (it == canned.end()) it = canned.find({std::string(), std::string(path)});
  return it == canned.end() ? nullptr : it->second;
}

bool StandInUpstream::Impl::send_canned(tcp::socket& s, const http::request<http::string_body>& req,
                                        const Prepared& answer, bool keep) {
  const auto& c = answer.canned;
  if (c.delay.count() > 0 && !hold(s, c.delay)) return false;
  const bool json = !c.json_body.empty() && header_names(req[http::field::accept], "json");
  const std::string& plain = json ? c.json_body : c.body;
  const std::string& packed = json ? answer.gzip_json_body : answer.gzip_body;
  const bool gz = !packed.empty() && header_names(req[http::field::accept_encoding], "gzip");

  http::response<http::string_body> res{static_cast<http::status>(c.status), 11};
  res.set(http::field::server, "stand-in");
  res.keep_alive(keep);
  if (json)
    res.set(http::field::content_type, "application/json");
  else if (!c.content_type.empty())
    res.set(http::field::content_type, c.content_type);
  if (c.gzip_when_accepted) res.set(http::field::vary, "Accept-Encoding");
  if (gz) res.set(http::field::content_encoding, "gzip");
  res.body() = gz ? packed : plain;
  res.prepare_payload();
  ++canned_served;
  if (req.method() == http::verb::head) {
    http::response<http::empty_body> h{res.base()};
    return write(s, h) && keep;
  }
  return write(s, res) && keep;
}

bool StandInUpstream::Impl::respond(tcp::socket& s, const http::request<http::string_body>& req) {
  const std::string_view target(req.target().data(), req.target().size());
  const auto path = target.substr(0, target.find('?'));
  const bool keep = req.keep_alive();
  const bool head = req.method() == http::verb::head;
  const auto method = req.method_string();
  if (auto answer = canned_for(std::string_view(method.data(), method.size()), path))
    return send_canned(s, req, *answer, keep);

  if (path == "/status/sessions" || path == "/statistics/resources" || path == "/") {
    bool server = [&] {
      std::lock_guard lock(mu);
      return !server_token.empty();
    }();
    if (server) return send_server(s, req, path, keep);
  }

  http::response<http::string_body> res{http::status::ok, 11};
  res.set(http::field::server, "stand-in");
  res.keep_alive(keep);
  if (path == "/small") {
    res.set(http::field::content_type, "text/xml;charset=utf-8");
    res.body() = std::string(kSmallBody);
  } else if (path == "/echo") {
    auto type = req[http::field::content_type];
    res.set(http::field::content_type, type.empty() ? "application/octet-stream" : type);
    res.body() = req.body();
  } else if (path == "/head-check") {
    if (head) {
      http::response<http::empty_body> h{http::status::ok, 11};
      h.set(http::field::content_type, "text/plain");
      h.content_length(1234);
      h.keep_alive(keep);
      return write(s, h) && keep;
    }
    res.body() = std::string(1234, 'h');
  } else if (path == "/gzip") {
    res.set(http::field::content_type, "text/xml;charset=utf-8");
    res.set(http::field::vary, "Accept-Encoding");
    if (req[http::field::accept_encoding].find("gzip") != beast::string_view::npos) {
      res.set(http::field::content_encoding, "gzip");
      res.body() = gzip_bytes();
    } else {
      res.body() = gzip_plain();
    }
  } else if (path == "/slow") {
    if (!hold(s, std::chrono::milliseconds(query_number(target, "ms", 1000)))) return false;
    res.body() = "slow done";
  } else if (path == "/silent") {
    hold(s, 60s);
    return false;
  } else if (path == "/bytes") {
    return send_bytes(s, req, keep);
  } else if (path == "/sse") {
    return send_sse(s, keep);
  } else if (path == "/chunked") {
    return send_chunked(s, keep);
  } else {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "text/plain");
    res.body() = "not found";
  }
  res.prepare_payload();
  if (head) {
    http::response<http::empty_body> h{res.base()};
    return write(s, h) && keep;
  }
  return write(s, res) && keep;
}

bool StandInUpstream::Impl::send_bytes(tcp::socket& s, const http::request<http::string_body>& req,
                                       bool keep) {
  const std::string_view target(req.target().data(), req.target().size());
  const std::uint64_t n = query_number(target, "n", 0);
  std::uint64_t first = 0, last = n;  // [first, last)
  std::string head;
  auto range = req[http::field::range];
  if (!range.empty()) {
    auto r = parse_range(std::string_view(range.data(), range.size()), n);
    if (!r) {
      std::string res = "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */" +
                        std::to_string(n) + "\r\nContent-Length: 0\r\n\r\n";
      return write(s, res) && keep;
    }
    first = r->first;
    last = r->second + 1;
    head = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + std::to_string(r->first) +
           "-" + std::to_string(r->second) + "/" + std::to_string(n) + "\r\n";
  } else {
    head = "HTTP/1.1 200 OK\r\n";
  }
  head += "Content-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\nContent-Length: " +
          std::to_string(last - first) + "\r\n";
  if (!keep) head += "Connection: close\r\n";
  head += "\r\n";
  if (!write(s, head)) return false;
  if (req.method() == http::verb::head) return keep;
  // Piece by piece from a shared table: a 1 GiB body costs no memory here.
  const auto& table = PatternTable::get();
  for (std::uint64_t at = first; at < last;) {
    auto piece = table.at(
        at, static_cast<std::size_t>(std::min<std::uint64_t>(last - at, PatternTable::kSpan)));
    if (!write(s, piece)) return false;
    at += piece.size();
  }
  return keep;
}

bool StandInUpstream::Impl::send_sse(tcp::socket& s, bool keep) {
  if (!write(s,
             "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
             "Transfer-Encoding: chunked\r\n\r\n"))
    return false;
  for (int i = 1; i <= 3; ++i) {
    if (i > 1 && !hold(s, 300ms)) return false;
    {
      std::lock_guard lock(mu);
      sse_sent[static_cast<std::size_t>(i)] = Clock::now();
    }
    if (!write(s, chunk("data: " + std::to_string(i) + "\n\n"))) return false;
  }
  // Like a real event stream: open until someone ends it.
  if (!hold(s, 5s)) return false;
  return write(s, "0\r\n\r\n") && keep;
}

bool StandInUpstream::Impl::send_chunked(tcp::socket& s, bool keep) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n";
  if (!keep) head += "Connection: close\r\n";
  if (!write(s, head + "\r\n")) return false;
  for (const auto& piece : chunk_pieces()) {
    // A pause per chunk, so the proxy sees them arrive separately.
    if (!hold(s, 10ms) || !write(s, chunk(piece))) return false;
  }
  return write(s, "0\r\n\r\n") && keep;
}

}  // namespace plextap::itest

namespace plextap::itest {
namespace {

// Query parameter `name` of `target`, as sent (no percent-decoding: tests send plain values).
std::string query_text(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  auto query = target.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=')
      return std::string(pair.substr(name.size() + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

// A header, else the query parameter of the same name.
std::string client_value(const http::request<http::string_body>& req, std::string_view name) {
  auto h = req[name];
  if (!h.empty()) return std::string(h);
  return query_text(std::string_view(req.target().data(), req.target().size()), name);
}

std::uint64_t number_of(const std::string& s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

bool StandInUpstream::Impl::authorized(const http::request<http::string_body>& req) const {
  std::string token = client_value(req, "X-Plex-Token");
  std::lock_guard lock(mu);
  return !server_token.empty() && token == server_token;
}

void StandInUpstream::Impl::saw_timeline(const http::request<http::string_body>& req) {
  const std::string_view target(req.target().data(), req.target().size());
  Play p;
  p.client = client_value(req, "X-Plex-Client-Identifier");
  p.product = client_value(req, "X-Plex-Product");
  p.rating_key = query_text(target, "ratingKey");
  p.state = query_text(target, "state");
  p.time = number_of(query_text(target, "time"));
  p.duration = number_of(query_text(target, "duration"));
  {
    std::lock_guard lock(mu);
    if (server_token.empty()) return;
    auto it = plays.find(p.client);
    p.session_key = it != plays.end() ? it->second.session_key : std::to_string(plays.size() + 100);
    std::string message =
        R"({"NotificationContainer":{"type":"playing","size":1,"PlaySessionStateNotification":[{"sessionKey":")" +
        p.session_key + R"(","clientIdentifier":")" + p.client + R"(","guid":"","ratingKey":")" +
        p.rating_key + R"(","url":"","key":"/library/metadata/)" + p.rating_key +
        R"(","viewOffset":)" + std::to_string(p.time) + R"(,"state":")" + p.state + R"("}]}})";
    for (const auto& l : listeners) l->out.push_back(message);
    plays[p.client] = std::move(p);
  }
  stop_cv.notify_all();
}

void StandInUpstream::Impl::feed_notifications(websocket::stream<tcp::socket>& ws) {
  auto me = std::make_shared<Listener>();
  {
    std::lock_guard lock(mu);
    listeners.insert(me);
  }
  ws.text(true);
  error_code ec;
  for (;;) {
    std::deque<std::string> out;
    {
      std::unique_lock lock(mu);
      stop_cv.wait_for(lock, 50ms, [&] { return stopping || me->drop || !me->out.empty(); });
      if (stopping || me->drop) break;
      out.swap(me->out);
    }
    char byte;
    ssize_t n = ::recv(ws.next_layer().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;
    for (const auto& m : out) ws.write(net::buffer(m), ec);
    if (ec) break;
  }
  std::lock_guard lock(mu);
  listeners.erase(me);
}

bool StandInUpstream::Impl::send_server(tcp::socket& s, const http::request<http::string_body>& req,
                                        std::string_view path, bool keep) {
  http::response<http::string_body> res{http::status::ok, 11};
  res.set(http::field::server, "stand-in");
  res.keep_alive(keep);
  const bool json = header_names(req[http::field::accept], "json");
  res.set(http::field::content_type, json ? "application/json" : "text/xml;charset=utf-8");
  if (!authorized(req)) {
    res.result(http::status::unauthorized);
    res.set(http::field::content_type, "text/html");
    res.body() = "<html><body>401 Unauthorized</body></html>";
  } else if (path == "/status/sessions") {
    std::vector<Play> now;
    {
      std::lock_guard lock(mu);
      for (const auto& [_, p] : plays)
        if (p.state != "stopped") now.push_back(p);
    }
    std::string items;
    for (const auto& p : now) {
      if (json) {
        if (!items.empty()) items += ',';
        items += R"({"ratingKey":")" + p.rating_key + R"(","sessionKey":")" + p.session_key +
                 R"(","type":"movie","title":"Stand-in movie","viewOffset":)" +
                 std::to_string(p.time) + R"(,"duration":)" + std::to_string(p.duration) +
                 R"(,"Media":[{"id":71,"videoResolution":"1080","selected":true}],)"
                 R"("User":{"id":"7","title":"DirectViewer"},"Player":{"address":"127.0.0.1",)"
                 R"("machineIdentifier":")" +
                 p.client + R"(","product":")" + p.product + R"(","state":")" + p.state +
                 R"(","title":"Direct player","local":true,"relayed":false,"secure":false},)"
                 R"("Session":{"id":"sess-)" +
                 p.session_key + R"(","bandwidth":4321,"location":"lan"})" +
                 (p.product == "TranscodedApp"
                      ? R"(,"TranscodeSession":{"videoDecision":"transcode","audioDecision":"copy"})"
                      : "") +
                 "}";
      } else {
        items +=
            R"(<Video ratingKey=")" + p.rating_key + R"(" sessionKey=")" + p.session_key +
            R"(" type="movie" title="Stand-in movie" viewOffset=")" + std::to_string(p.time) +
            R"(" duration=")" + std::to_string(p.duration) +
            R"("><Media id="71" videoResolution="1080" selected="1"/>)"
            R"(<User id="7" title="DirectViewer"/><Player address="127.0.0.1" machineIdentifier=")" +
            p.client + R"(" product=")" + p.product + R"(" state=")" + p.state +
            R"(" title="Direct player" local="1" relayed="0" secure="0"/>)"
            R"(<Session id="sess-)" +
            p.session_key + R"(" bandwidth="4321" location="lan"/>)" +
            // A player named for it is transcoded (the server watch's gauges).
            (p.product == "TranscodedApp"
                 ? R"(<TranscodeSession videoDecision="transcode" audioDecision="copy"/>)"
                 : "") +
            "</Video>";
      }
    }
    const std::string size = std::to_string(now.size());
    res.body() = json ? R"({"MediaContainer":{"size":)" + size + R"(,"Metadata":[)" + items + "]}}"
                      : R"(<MediaContainer size=")" + size + R"(">)" + items + "</MediaContainer>";
  } else if (path == "/statistics/resources") {
    res.body() =
        json
            ? R"({"MediaContainer":{"size":1,"StatisticsResources":[{"timespan":6,"at":1718384433,)"
              R"("hostCpuUtilization":3.5,"processCpuUtilization":1.25,"hostMemoryUtilization":17.2,)"
              R"("processMemoryUtilization":0.5}]}})"
            : R"(<MediaContainer size="1"><StatisticsResources timespan="6" at="1718384433" )"
              R"(hostCpuUtilization="3.5" processCpuUtilization="1.25" )"
              R"(hostMemoryUtilization="17.2" processMemoryUtilization="0.5"/></MediaContainer>)";
  } else {
    res.body() = json ? R"({"MediaContainer":{"size":0,"transcoderActiveVideoSessions":1}})"
                      : R"(<MediaContainer size="0" transcoderActiveVideoSessions="1"/>)";
  }
  res.prepare_payload();
  return write(s, res) && keep;
}

}  // namespace plextap::itest
