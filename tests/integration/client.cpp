// The clients the tests drive the proxy with. Beast's blocking calls have no timeouts
// of their own, hence the watchdog thread per client.
// Long on purpose: the HTTP(S), websocket and raw-socket clients share one watchdog.
#include "tests/integration/client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

namespace plextap::itest {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::system::error_code;
using net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Shuts `fd` down after `limit` unless destroyed first: wakes any blocked read or write.
class Watchdog {
 public:
  Watchdog(int fd, std::chrono::milliseconds limit)
      : thread_([this, fd, limit] { run(fd, limit); }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  bool fired() const { return fired_; }

 private:
  void run(int fd, std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
      fired_ = true;
      ::shutdown(fd, SHUT_RDWR);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;  // last: starts once the members it uses exist
};

tcp::endpoint loopback(std::uint16_t port) {
  return {net::ip::make_address_v4("127.0.0.1"), port};
}

sockaddr_in loopback_sockaddr(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// Waits for `events` on `fd` until `deadline`; true when ready.
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

// ---- HttpClient ----

struct HttpClient::Impl {
  net::io_context ioc;
  std::optional<net::ssl::context> ctx;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  std::uint16_t port = 0;
  int fd = -1;
  std::unique_ptr<Watchdog> watchdog;
  bool watchdog_fired = false;

  template <class F>
  auto visit(F&& f) {
    if (tls) return f(*tls);
    return f(*plain);
  }

  void disarm() {
    if (watchdog) watchdog_fired = watchdog->fired();
    watchdog.reset();
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient() {
  close();
}

std::unique_ptr<HttpClient> HttpClient::plain(std::uint16_t port, std::chrono::milliseconds limit) {
  auto impl = std::make_unique<Impl>();
  impl->port = port;
  tcp::socket socket(impl->ioc);
  socket.connect(loopback(port));
  socket.set_option(tcp::no_delay(true));
  impl->fd = socket.native_handle();
  impl->watchdog = std::make_unique<Watchdog>(impl->fd, limit);
  impl->plain.emplace(std::move(socket));
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

std::unique_ptr<HttpClient> HttpClient::tls(std::uint16_t port, const std::filesystem::path& ca,
                                            std::chrono::milliseconds limit) {
  auto impl = std::make_unique<Impl>();
  impl->port = port;
  impl->ctx.emplace(net::ssl::context::tls_client);
  impl->ctx->load_verify_file(ca.string());
  impl->ctx->set_verify_mode(net::ssl::verify_peer);
  tcp::socket socket(impl->ioc);
  socket.connect(loopback(port));
  socket.set_option(tcp::no_delay(true));
  impl->fd = socket.native_handle();
  impl->watchdog = std::make_unique<Watchdog>(impl->fd, limit);
  impl->tls.emplace(std::move(socket), *impl->ctx);
  impl->tls->set_verify_callback(net::ssl::host_name_verification("127.0.0.1"));
  impl->tls->handshake(net::ssl::stream_base::client);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

bool HttpClient::is_tls() const {
  return impl_->tls.has_value();
}

std::string HttpClient::host() const {
  return "127.0.0.1:" + std::to_string(impl_->port);
}

Request HttpClient::request(http::verb method, std::string target) const {
  Request req{method, target, 11};
  req.set(http::field::host, host());
  req.set(http::field::user_agent, "plextap-integration-test");
  return req;
}

Response HttpClient::send(Request req) {
  const bool head = req.method() == http::verb::head;
  write(std::move(req));
  return read(head);
}

void HttpClient::write(Request req) {
  req.prepare_payload();
  impl_->visit([&](auto& s) { http::write(s, req); });
}

Response HttpClient::read(bool head_request) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  if (head_request) parser.skip(true);
  impl_->visit([&](auto& s) { http::read(s, impl_->buffer, parser); });
  return parser.release();
}

void HttpClient::write_raw(std::string_view bytes) {
  impl_->visit([&](auto& s) { net::write(s, net::buffer(bytes.data(), bytes.size())); });
}

Response HttpClient::send_expect_continue(Request req, unsigned& interim) {
  req.set(http::field::expect, "100-continue");
  req.prepare_payload();
  http::request_serializer<http::string_body> sr{req};
  impl_->visit([&](auto& s) { http::write_header(s, sr); });
  // The body stays back until the proxy says go on (or answers for good).
  http::response_parser<http::string_body> first;
  first.body_limit(boost::none);
  impl_->visit([&](auto& s) { http::read(s, impl_->buffer, first); });
  interim = first.get().result_int();
  if (interim >= 200) {
    interim = 0;
    return first.release();
  }
  impl_->visit([&](auto& s) { http::write(s, sr); });
  return read(false);
}

ResponseHead HttpClient::stream(Request req,
                                const std::function<void(const ResponseHead&)>& on_head,
                                const std::function<bool(std::string_view)>& on_piece) {
  const bool head_only = req.method() == http::verb::head;
  write(std::move(req));
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  if (head_only) parser.skip(true);
  impl_->visit([&](auto& s) { http::read_header(s, impl_->buffer, parser); });
  ResponseHead head = parser.get().base();
  if (on_head) on_head(head);
  std::vector<char> piece(64 * 1024);
  while (!parser.is_done()) {
    auto& body = parser.get().body();
    body.data = piece.data();
    body.size = piece.size();
    error_code ec;
    impl_->visit([&](auto& s) { http::read_some(s, impl_->buffer, parser, ec); });
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw boost::system::system_error(ec);
    std::size_t n = piece.size() - parser.get().body().size;
    if (n && !on_piece(std::string_view(piece.data(), n))) break;
  }
  return head;
}

bool HttpClient::closed_by_peer_within(std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  char scratch[16 * 1024];
  for (;;) {
    if (!wait_ready(impl_->fd, POLLIN, deadline)) return false;
    ssize_t n = ::recv(impl_->fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
  }
}

void HttpClient::close() {
  if (!impl_) return;
  impl_->disarm();
  error_code ignored;
  if (impl_->plain) {
    impl_->plain->socket().shutdown(tcp::socket::shutdown_both, ignored);
    impl_->plain->close();
    impl_->plain.reset();
  }
  if (impl_->tls) {
    beast::get_lowest_layer(*impl_->tls).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(*impl_->tls).close();
    impl_->tls.reset();
  }
}

bool HttpClient::watchdog_fired() const {
  return impl_->watchdog ? impl_->watchdog->fired() : impl_->watchdog_fired;
}

// ---- WsClient ----

struct WsClient::Impl {
  net::io_context ioc;
  net::ssl::context ctx{net::ssl::context::tls_client};
  std::optional<websocket::stream<beast::ssl_stream<beast::tcp_stream>>> ws;
  std::unique_ptr<Watchdog> watchdog;
  unsigned status = 0;
};

WsClient::WsClient(std::uint16_t port, const std::filesystem::path& ca, const std::string& target,
                   std::chrono::milliseconds limit)
    : impl_(std::make_unique<Impl>()) {
  impl_->ctx.load_verify_file(ca.string());
  impl_->ctx.set_verify_mode(net::ssl::verify_peer);
  auto& ws = impl_->ws.emplace(impl_->ioc, impl_->ctx);
  auto& tcp_layer = beast::get_lowest_layer(ws);
  tcp_layer.connect(loopback(port));
  impl_->watchdog = std::make_unique<Watchdog>(tcp_layer.socket().native_handle(), limit);
  ws.next_layer().set_verify_callback(net::ssl::host_name_verification("127.0.0.1"));
  ws.next_layer().handshake(net::ssl::stream_base::client);
  websocket::response_type res;
  ws.handshake(res, "127.0.0.1:" + std::to_string(port), target);
  impl_->status = res.result_int();
}

WsClient::~WsClient() {
  impl_->watchdog.reset();
  impl_->ws.reset();
}

unsigned WsClient::upgrade_status() const {
  return impl_->status;
}

std::string WsClient::read() {
  beast::flat_buffer buffer;
  impl_->ws->read(buffer);
  return beast::buffers_to_string(buffer.data());
}

void WsClient::write(const std::string& text) {
  impl_->ws->text(true);
  impl_->ws->write(net::buffer(text));
}

error_code WsClient::close() {
  error_code ec;
  impl_->ws->close(websocket::close_code::normal, ec);
  return ec;
}

unsigned WsClient::close_code_received() const {
  return impl_->ws->reason().code;
}

// ---- RawConnection ----

RawConnection::RawConnection(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  auto addr = loopback_sockaddr(port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::system_error(err, std::generic_category(), "connect");
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::can_connect(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  auto addr = loopback_sockaddr(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

bool RawConnection::send(std::string_view bytes) {
  auto deadline = Clock::now() + std::chrono::seconds(5);
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

RawConnection::Received RawConnection::read_until_close(std::chrono::milliseconds limit) {
  Received got;
  auto start = Clock::now();
  auto deadline = start + limit;
  char buf[16 * 1024];
  for (;;) {
    if (!wait_ready(fd_, POLLIN, deadline)) break;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      got.data.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      got.closed = true;
      break;
    }
  }
  got.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return got;
}

// ---- DeadPort ----

DeadPort::DeadPort() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
  auto addr = loopback_sockaddr(0);
  socklen_t len = sizeof addr;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::system_error(errno, std::generic_category(), "bind");
  port_ = ntohs(addr.sin_port);
}

DeadPort::~DeadPort() {
  ::close(fd_);
}

}  // namespace plextap::itest
