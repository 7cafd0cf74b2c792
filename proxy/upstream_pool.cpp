#include "proxy/upstream_pool.hpp"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>

#include "certs/client_tls.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;

namespace {

constexpr std::size_t kMaxIdle = 256;
constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);

// A pooled connection the server has closed (or sent stray bytes on) is useless. Over
// TLS too: an idle server sends nothing but its close_notify.
template <class Stream>
bool still_open(UpstreamConnection<Stream>& conn) {
  char byte;
  ssize_t n = ::recv(conn.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

template <class Stream>
UpstreamConnection<Stream>::UpstreamConnection(Stream s, MetricsShard& m)
    : stream(std::move(s)), metrics(m) {
  metrics.upstream_connections.fetch_add(1, std::memory_order_relaxed);
}

template <class Stream>
UpstreamConnection<Stream>::~UpstreamConnection() {
  metrics.upstream_connections.fetch_sub(1, std::memory_order_relaxed);
}

template <class Stream>
UpstreamPool<Stream>::UpstreamPool(net::any_io_executor ex, std::vector<net::ip::tcp::endpoint> eps,
                                   std::chrono::milliseconds connect_timeout,
                                   std::chrono::milliseconds idle_timeout, MetricsShard& metrics,
                                   const UpstreamTls& tls)
    : ex_(std::move(ex)),
      endpoints_(std::move(eps)),
      connect_timeout_(connect_timeout),
      idle_timeout_(idle_timeout),
      metrics_(metrics),
      tls_(tls) {}

template <class Stream>
net::awaitable<std::unique_ptr<UpstreamConnection<Stream>>> UpstreamPool<Stream>::acquire(
    boost::system::error_code& ec) {
  // A pooled connection is used again only if nothing has arrived on it since its last
  // response ended: bytes there now (a server that overran its framing late, a stray
  // answer) or its close make it unusable, and they must never reach the next client.
  while (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    if (!still_open(*conn)) {
      metrics_.add(metrics_.upstream_discarded);
      continue;
    }
    conn->reused = true;
    ec = {};
    co_return conn;
  }
  co_return co_await connect(ec);
}

template <class Stream>
net::awaitable<std::unique_ptr<UpstreamConnection<Stream>>> UpstreamPool<Stream>::connect(
    boost::system::error_code& ec) {
  beast::tcp_stream tcp(ex_);
  tcp.expires_after(connect_timeout_);
  auto [error, endpoint] = co_await tcp.async_connect(endpoints_, kUseTuple);
  ec = error;
  if (ec) co_return nullptr;
  tcp.socket().set_option(net::ip::tcp::no_delay(true), error);
  std::unique_ptr<Connection> conn;
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    tcp.expires_never();
    TlsStream tls(tcp.release_socket(), tls_.context.get(), TlsStream::Role::client);
    if (!tls.native_handle() ||
        !certs::prepare_client_connection(tls.native_handle(), tls_.server_name, tls_.verify)) {
      ec = net::error::invalid_argument;
      co_return nullptr;
    }
    // The handshake counts against the connect timeout: to the client both are "connecting".
    tls.expires_after(connect_timeout_);
    auto [handshake_error, n] = co_await tls.async_handshake(kUseTuple);
    ec = handshake_error;
    if (ec) co_return nullptr;
    conn = std::make_unique<Connection>(std::move(tls), metrics_);
  } else {
    conn = std::make_unique<Connection>(std::move(tcp), metrics_);
  }
  // Responses are read in large pieces: a small buffer would mean a system call per 512 bytes.
  conn->buffer.reserve(16 * 1024);
  metrics_.add(metrics_.upstream_connects_total);
  co_return conn;
}

template <class Stream>
void UpstreamPool<Stream>::release(std::unique_ptr<Connection> conn) {
  // Clean means the response ended exactly where its framing said: nothing read past it
  // (here, or decrypted and waiting inside OpenSSL).
  bool clean = conn->buffer.size() == 0;
  if constexpr (std::is_same_v<Stream, TlsStream>)
    clean = clean && SSL_has_pending(conn->stream.native_handle()) == 0;
  if (!clean) {
    metrics_.add(metrics_.upstream_discarded);
    return;
  }
  conn->stream.expires_never();
  conn->idle_since = std::chrono::steady_clock::now();
  if (idle_.size() >= kMaxIdle) idle_.erase(idle_.begin());
  idle_.push_back(std::move(conn));
}

template <class Stream>
void UpstreamPool<Stream>::sweep() {
  auto now = std::chrono::steady_clock::now();
  std::erase_if(idle_, [&](const std::unique_ptr<Connection>& c) {
    return now - c->idle_since > idle_timeout_ || !still_open(*c);
  });
}

template struct UpstreamConnection<beast::tcp_stream>;
template struct UpstreamConnection<TlsStream>;
template class UpstreamPool<beast::tcp_stream>;
template class UpstreamPool<TlsStream>;

}  // namespace plextap::proxy
