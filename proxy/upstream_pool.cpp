#include "proxy/upstream_pool.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <type_traits>

#include "certs/client_tls.hpp"
#include "net/use_tuple.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;

namespace {

constexpr std::size_t kMaxIdle = 256;
constexpr std::chrono::milliseconds kPollPlaces{10};
using ::plextap::net::kUseTuple;

// A pooled connection the server has closed (or sent stray bytes on) is useless. Over
// TLS too: an idle server sends nothing but its close_notify.
template <class Stream>
bool still_open(UpstreamConnection<Stream>& conn) {
  char byte;
  ssize_t n = ::recv(conn.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

// One pool's view of the process-wide UpstreamLimit: taking and giving back places
// there, and telling its pool when one of its connections gave a place back, so that a
// request waiting on this thread can take it at once.
class ConnectionBudget {
 public:
  explicit ConnectionBudget(UpstreamLimit& limit) : limit_(limit) {}
  bool try_take() { return limit_.try_take(); }
  void give_back() {
    limit_.give_back();
    if (on_free_) on_free_();
  }
  UpstreamLimit& limit() { return limit_; }
  std::function<void()> on_free_;  // cleared when the pool goes

 private:
  UpstreamLimit& limit_;
};

bool UpstreamLimit::try_take() {
  auto used = used_.load(std::memory_order_relaxed);
  do {
    if (used >= max_) return false;
  } while (!used_.compare_exchange_weak(used, used + 1, std::memory_order_acq_rel));
  return true;
}

void UpstreamLimit::give_back() {
  used_.fetch_sub(1, std::memory_order_acq_rel);
}

const boost::system::error_category& pool_category() {
  struct Category final : boost::system::error_category {
    const char* name() const noexcept override { return "upstream.pool"; }
    std::string message(int) const override {
      return "every upstream connection is busy (--upstream-max-connections)";
    }
  };
  static const Category category;
  return category;
}

template <class Stream>
UpstreamConnection<Stream>::UpstreamConnection(Stream s, MetricsShard& m,
                                               std::shared_ptr<ConnectionBudget> b)
    : stream(std::move(s)), metrics(m), budget(std::move(b)) {
  metrics.upstream_connections.fetch_add(1, std::memory_order_relaxed);
}

template <class Stream>
UpstreamConnection<Stream>::~UpstreamConnection() {
  // The socket closes before its place is given back: another thread may connect at once,
  // and the server must never see more connections than the budget, even for a moment.
  boost::system::error_code ignored;
  stream.socket().close(ignored);
  metrics.upstream_connections.fetch_sub(1, std::memory_order_relaxed);
  budget->give_back();
}

template <class Stream>
UpstreamPool<Stream>::UpstreamPool(net::any_io_executor ex, std::vector<net::ip::tcp::endpoint> eps,
                                   std::chrono::milliseconds connect_timeout,
                                   std::chrono::milliseconds idle_timeout, UpstreamLimit& limit,
                                   MetricsShard& metrics, const UpstreamTls& tls)
    : ex_(std::move(ex)),
      endpoints_(std::move(eps)),
      connect_timeout_(connect_timeout),
      idle_timeout_(idle_timeout),
      metrics_(metrics),
      tls_(tls),
      budget_(std::make_shared<ConnectionBudget>(limit)) {
  budget_->on_free_ = [this] { hand_place_to_waiter(); };
}

template <class Stream>
UpstreamPool<Stream>::~UpstreamPool() {
  budget_->on_free_ = nullptr;
  idle_.clear();
}

// A waiting request is given the place of a connection that closed: it connects anew.
template <class Stream>
void UpstreamPool<Stream>::hand_place_to_waiter() {
  if (waiters_.empty() || !budget_->try_take()) return;
  Waiter* w = waiters_.front();
  waiters_.pop_front();
  w->has_place = true;
  w->timer.cancel();
  wake_front();
}

// The first waiter of a pool looks for a place freed on another thread every
// kPollPlaces; the others wait their turn. This wakes the new first one.
template <class Stream>
void UpstreamPool<Stream>::wake_front() {
  if (!waiters_.empty()) waiters_.front()->timer.cancel();
}

template <class Stream>
net::awaitable<std::unique_ptr<UpstreamConnection<Stream>>> UpstreamPool<Stream>::acquire(
    boost::system::error_code& ec) {
  co_return co_await take(ec, true);
}

template <class Stream>
net::awaitable<std::unique_ptr<UpstreamConnection<Stream>>> UpstreamPool<Stream>::acquire_new(
    boost::system::error_code& ec) {
  co_return co_await take(ec, false);
}

// A pooled connection is used again only if nothing has arrived on it since its last
// response ended: bytes there now (a server that overran its framing late, a stray answer)
// or its close make it unusable, and they must never reach the next client.
template <class Stream>
std::unique_ptr<UpstreamConnection<Stream>> UpstreamPool<Stream>::take_idle() {
  while (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    if (!still_open(*conn)) {
      metrics_.add(metrics_.upstream_discarded);
      continue;
    }
    conn->reused = true;
    return conn;
  }
  return nullptr;
}

template <class Stream>
net::awaitable<std::unique_ptr<UpstreamConnection<Stream>>> UpstreamPool<Stream>::take(
    boost::system::error_code& ec, bool pooled_ok) {
  if (pooled_ok) {
    if (auto conn = take_idle()) {
      ec = {};
      co_return conn;
    }
  }
  if (budget_->try_take()) co_return co_await connect(ec);

  // Every place is taken: wait for a connection to be released or to close.
  if (waiters_.size() >= max_waiters()) {
    metrics_.add(metrics_.upstream_busy);
    ec = PoolError::busy;
    co_return nullptr;
  }
  Waiter w{net::steady_timer(ex_), nullptr, false};
  const auto deadline = std::chrono::steady_clock::now() + connect_timeout_;
  waiters_.push_back(&w);
  auto& waiting = budget_->limit().waiting;
  waiting.fetch_add(1, std::memory_order_relaxed);
  struct Leave {  // also when the frame is destroyed at shutdown
    UpstreamPool& pool;
    Waiter* w;
    std::atomic<int>& waiting;
    ~Leave() {
      const bool was_first = !pool.waiters_.empty() && pool.waiters_.front() == w;
      std::erase(pool.waiters_, w);
      waiting.fetch_sub(1, std::memory_order_relaxed);
      if (was_first) pool.wake_front();
    }
  } leave{*this, &w, waiting};
  for (;;) {
    const bool first = !waiters_.empty() && waiters_.front() == &w;
    w.timer.expires_at(first ? std::min(deadline, std::chrono::steady_clock::now() + kPollPlaces)
                             : deadline);
    co_await w.timer.async_wait(kUseTuple);
    if (w.conn) {
      w.conn->reused = true;
      ec = {};
      co_return std::move(w.conn);
    }
    if (w.has_place) co_return co_await connect(ec);
    if (std::chrono::steady_clock::now() >= deadline) break;
    // A place another thread's pool gave back (its idle connections close while anyone
    // waits, see release() and sweep()).
    if (budget_->try_take()) co_return co_await connect(ec);
  }
  metrics_.add(metrics_.upstream_busy);
  ec = PoolError::busy;
  co_return nullptr;
}

template <class Stream>
net::awaitable<std::unique_ptr<UpstreamConnection<Stream>>> UpstreamPool<Stream>::connect(
    boost::system::error_code& ec) {
  // The caller holds a place in the budget; the connection made keeps it, a failure
  // gives it back.
  struct Place {
    ConnectionBudget& budget;
    bool kept = false;
    ~Place() {
      if (!kept) budget.give_back();
    }
  } place{*budget_};
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
    conn = std::make_unique<Connection>(std::move(tls), metrics_, budget_);
  } else {
    conn = std::make_unique<Connection>(std::move(tcp), metrics_, budget_);
  }
  place.kept = true;
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
  if (!waiters_.empty()) {  // straight to a request waiting for a connection
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->conn = std::move(conn);
    w->timer.cancel();
    wake_front();
    return;
  }
  // Requests wait on another thread: the place is worth more there than an idle
  // connection here.
  if (budget_->limit().waiting.load(std::memory_order_relaxed) > 0) return;
  conn->stream.expires_never();
  conn->idle_since = std::chrono::steady_clock::now();
  if (idle_.size() >= kMaxIdle) idle_.erase(idle_.begin());
  idle_.push_back(std::move(conn));
}

template <class Stream>
void UpstreamPool<Stream>::sweep() {
  if (budget_->limit().waiting.load(std::memory_order_relaxed) > 0) {
    idle_.clear();  // their places go to requests waiting on another thread
    return;
  }
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
