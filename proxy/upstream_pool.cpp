#include "proxy/upstream_pool.hpp"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace plextap::proxy {
namespace net = boost::asio;

namespace {

constexpr std::size_t kMaxIdle = 256;

// A pooled connection the server has closed (or sent stray bytes on) is useless.
bool still_open(UpstreamConnection& conn) {
  char byte;
  ssize_t n = ::recv(conn.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

UpstreamConnection::UpstreamConnection(const net::any_io_executor& ex, MetricsShard& m)
    : stream(ex), metrics(m) {
  metrics.upstream_connections.fetch_add(1, std::memory_order_relaxed);
}

UpstreamConnection::~UpstreamConnection() {
  metrics.upstream_connections.fetch_sub(1, std::memory_order_relaxed);
}

UpstreamPool::UpstreamPool(net::any_io_executor ex, std::vector<net::ip::tcp::endpoint> eps,
                           std::chrono::milliseconds connect_timeout,
                           std::chrono::milliseconds idle_timeout, MetricsShard& metrics)
    : ex_(std::move(ex)),
      endpoints_(std::move(eps)),
      connect_timeout_(connect_timeout),
      idle_timeout_(idle_timeout),
      metrics_(metrics) {}

net::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::acquire(
    boost::system::error_code& ec) {
  // No liveness probe here (a system call per request): a pooled connection the server
  // closed fails on first use, and the session retries on a fresh one.
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    conn->reused = true;
    ec = {};
    co_return conn;
  }
  co_return co_await connect(ec);
}

net::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::connect(
    boost::system::error_code& ec) {
  auto conn = std::make_unique<UpstreamConnection>(ex_, metrics_);
  conn->stream.expires_after(connect_timeout_);
  auto [error, endpoint] =
      co_await conn->stream.async_connect(endpoints_, net::as_tuple(net::use_awaitable));
  ec = error;
  if (ec) co_return nullptr;
  conn->stream.socket().set_option(net::ip::tcp::no_delay(true), error);
  // Responses are read in large pieces: a small buffer would mean a system call per 512 bytes.
  conn->buffer.reserve(16 * 1024);
  metrics_.add(metrics_.upstream_connects_total);
  co_return conn;
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> conn) {
  conn->stream.expires_never();
  conn->idle_since = std::chrono::steady_clock::now();
  if (idle_.size() >= kMaxIdle) idle_.erase(idle_.begin());
  idle_.push_back(std::move(conn));
}

void UpstreamPool::sweep() {
  auto now = std::chrono::steady_clock::now();
  std::erase_if(idle_, [&](const std::unique_ptr<UpstreamConnection>& c) {
    return now - c->idle_since > idle_timeout_ || !still_open(*c);
  });
}

}  // namespace plextap::proxy
