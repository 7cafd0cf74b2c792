// Keep-alive connections to the Plex server, one pool per I/O thread (sessions are
// pinned to a thread, so the pool needs no lock). A pool is a template over the stream:
// plain TCP (beast::tcp_stream) or TLS (TlsStream), so the plain path pays nothing for
// https upstreams.
//
// All pools share one UpstreamLimit (--upstream-max-connections): open connections and
// connects in progress take a place in it. A request that finds no place waits, in its
// pool's bounded queue, for a connection of its own thread to be released or closed, or
// for a place another thread gives back (idle connections are closed while anyone
// waits); one that waits longer than the connect timeout, or finds the queue full, is
// told so (503).
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "proxy/metrics.hpp"
#include "proxy/tls_stream.hpp"

namespace plextap::proxy {

class ConnectionBudget;

// The places for connections to the server, over all threads.
class UpstreamLimit {
 public:
  explicit UpstreamLimit(std::size_t max) : max_(max ? max : 1) {}
  bool try_take();
  void give_back();
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }
  // Requests waiting for a place, on any thread.
  std::atomic<int> waiting{0};

 private:
  const std::size_t max_;
  std::atomic<std::size_t> used_{0};
};

template <class Stream>
struct UpstreamConnection {
  UpstreamConnection(Stream s, MetricsShard& metrics, std::shared_ptr<ConnectionBudget> budget);
  ~UpstreamConnection();  // gives its place in the budget back
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  Stream stream;
  boost::beast::flat_buffer buffer;
  bool reused = false;  // came from the pool: may have been closed by the server meanwhile
  std::chrono::steady_clock::time_point idle_since;
  MetricsShard& metrics;
  std::shared_ptr<ConnectionBudget> budget;
};

// What connections to an https upstream need: the client context, and the name sent as
// SNI and checked against the certificate.
struct UpstreamTls {
  std::shared_ptr<SSL_CTX> context;
  std::string server_name;
  bool verify = true;
};

// Why acquire() gave no connection although the server may be fine.
enum class PoolError { busy = 1 };
const boost::system::error_category& pool_category();
inline boost::system::error_code make_error_code(PoolError e) {
  return {static_cast<int>(e), pool_category()};
}

template <class Stream>
class UpstreamPool {
 public:
  using Connection = UpstreamConnection<Stream>;

  // `tls` is used by the TLS pool only; it and `limit` must outlive the pool.
  UpstreamPool(boost::asio::any_io_executor ex, std::vector<boost::asio::ip::tcp::endpoint> eps,
               std::chrono::milliseconds connect_timeout, std::chrono::milliseconds idle_timeout,
               UpstreamLimit& limit, MetricsShard& metrics, const UpstreamTls& tls);
  ~UpstreamPool();

  // An idle connection that is still open with nothing to read, or a new one when the
  // budget allows; else waits for one. `ec` is PoolError::busy when none came in time.
  boost::asio::awaitable<std::unique_ptr<Connection>> acquire(boost::system::error_code& ec);
  // A pooled connection that is still clean, without suspending; null if there is none (then
  // acquire() connects or waits). The usual case of a busy proxy, so it costs no coroutine.
  std::unique_ptr<Connection> take_idle();
  // A new connection (never a pooled one), within the budget like acquire().
  boost::asio::awaitable<std::unique_ptr<Connection>> acquire_new(boost::system::error_code& ec);
  // Returns a connection whose last response ended with keep-alive, exactly where its
  // framing said; one with anything buffered past that end is closed instead.
  void release(std::unique_ptr<Connection> conn);
  // Closes connections idle for too long or closed by the server.
  void sweep();
  void close_all() { idle_.clear(); }

 private:
  // A request waiting for a place: woken with a released connection or with the place
  // of one that closed, or by its timer.
  struct Waiter {
    boost::asio::steady_timer timer;
    std::unique_ptr<Connection> conn;
    bool has_place = false;
  };

  boost::asio::awaitable<std::unique_ptr<Connection>> connect(boost::system::error_code& ec);
  boost::asio::awaitable<std::unique_ptr<Connection>> take(boost::system::error_code& ec,
                                                           bool pooled_ok);
  void hand_place_to_waiter();
  void wake_front();
  // Requests that may wait at once; more are refused at once.
  std::size_t max_waiters() const { return 1024; }

  boost::asio::any_io_executor ex_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds idle_timeout_;
  MetricsShard& metrics_;
  const UpstreamTls& tls_;
  std::shared_ptr<ConnectionBudget> budget_;
  std::vector<std::unique_ptr<Connection>> idle_;  // most recently used last
  std::deque<Waiter*> waiters_;                    // first come, first served
};

extern template struct UpstreamConnection<boost::beast::tcp_stream>;
extern template struct UpstreamConnection<TlsStream>;
extern template class UpstreamPool<boost::beast::tcp_stream>;
extern template class UpstreamPool<TlsStream>;

}  // namespace plextap::proxy

namespace boost::system {
template <>
struct is_error_code_enum<plextap::proxy::PoolError> : std::true_type {};
}  // namespace boost::system
