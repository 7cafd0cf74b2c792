// Per-thread and process-wide state shared by the sessions of a running proxy.
// Internal to proxy/: it carries Asio types.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "base/rate_limited_log.hpp"
#include "capture/tap.hpp"
#include "proxy/access_log.hpp"
#include "proxy/config.hpp"
#include "proxy/metrics.hpp"
#include "proxy/responder.hpp"
#include "proxy/upstream_pool.hpp"

namespace plextap::proxy {

// What every thread reads; written only before the threads start (except `draining`).
struct Shared {
  Shared(const Config& c, capture::Tap& t, AccessLog& log) : config(c), tap(t), access_log(log) {}

  const Config& config;
  capture::Tap& tap;
  AccessLog& access_log;
  std::vector<boost::asio::ip::tcp::endpoint> upstream_endpoints;
  std::string upstream_name;       // for error bodies and logs
  std::string upstream_host;       // host[:port], the Host header when a client sent none
  UpstreamTls upstream_tls;        // for an https upstream
  Responder* responder = nullptr;  // set: answer locally instead of forwarding
  UpstreamLimit upstream_limit{config.upstream_max_connections};
  std::atomic<bool> draining{false};
  // When the served certificate expires (seconds since the epoch); set on each load.
  std::atomic<std::int64_t> tls_not_after{0};

  // The TLS context new handshakes use; replaced as a whole on reload.
  std::shared_ptr<SSL_CTX> tls_context() const {
    std::lock_guard lock(tls_mutex);
    return tls;
  }
  void set_tls_context(std::shared_ptr<SSL_CTX> ctx) {
    std::lock_guard lock(tls_mutex);
    tls = std::move(ctx);
  }

 private:
  mutable std::mutex tls_mutex;
  std::shared_ptr<SSL_CTX> tls;
};

// The drain as the sessions of one thread hear of it, without a list of them: a timer
// that never expires, cancelled by fire(), which completes every wait on it at once.
// Every session waits on it (see DrainableRead in session.hpp); one that is waiting for
// its next request head (idle) has that read cancelled, a busy one finishes its exchange.
class DrainNotice {
 public:
  explicit DrainNotice(boost::asio::io_context& ioc)
      : timer_(ioc, std::chrono::steady_clock::time_point::max()) {}
  bool fired() const { return fired_; }
  void fire() {
    fired_ = true;
    timer_.cancel();
  }
  // Completes (with operation_aborted) when fire() is called, or when the wait is
  // cancelled through the handler's cancellation slot: fired() tells which.
  template <class Handler>
  void async_wait(Handler&& handler) {
    timer_.async_wait(std::forward<Handler>(handler));
  }
  // Expires with the notice: a wait may be withdrawn only while its timer exists (the
  // sessions a stopped io_context destroys outlive the notice).
  std::weak_ptr<void> alive() const { return alive_; }

 private:
  boost::asio::steady_timer timer_;
  bool fired_ = false;
  std::shared_ptr<void> alive_ = std::make_shared<char>();
};

// Relay buffers for one thread. Allocating and freeing 64 KiB per request made the
// allocator hand pages back to the kernel and fault them in again on every request;
// keeping a few free buffers per thread removes that, and idle connections still hold
// none.
class BufferPool {
 public:
  static constexpr std::size_t kSize = 64 * 1024;
  using Buffer = std::unique_ptr<char[]>;
  Buffer take() {
    if (free_.empty()) return Buffer(new char[kSize]);  // uninitialised: no memset
    Buffer b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void give(Buffer b) {
    if (b && free_.size() < kMaxFree) free_.push_back(std::move(b));
  }

 private:
  static constexpr std::size_t kMaxFree = 32;
  std::vector<Buffer> free_;
};

struct Worker {
  Worker(unsigned index, Shared& shared, MetricsShard& metrics);
  ~Worker();

  unsigned index;

 private:
  // Declared before the io_context, so that they outlive it: the coroutines it destroys
  // at shutdown still hold connections, which give their places back to their pool.
  std::unique_ptr<UpstreamPool<boost::beast::tcp_stream>> plain_pool_;
  std::unique_ptr<UpstreamPool<TlsStream>> tls_pool_;

 public:
  boost::asio::io_context ioc{1};
  Shared& shared;
  MetricsShard& metrics;
  BufferPool buffers;
  DrainNotice drain_notice{ioc};
  // One of the two is used, as the upstream is http:// or https://.
  template <class Stream>
  UpstreamPool<Stream>& pool() {
    if constexpr (std::is_same_v<Stream, TlsStream>)
      return *tls_pool_;
    else
      return *plain_pool_;
  }
  // Tells idle client connections to close (see DrainNotice) and closes pooled upstream
  // ones; called on this thread.
  void drain();
  // Closes pooled upstream connections unused for too long or closed by the server.
  void sweep();
  // Logs a warning, at most one a second per thread; says how many were held back.
  void warn_limited(const std::string& message) { warnings_.warn(message); }

 private:
  base::RateLimitedLog warnings_{std::chrono::seconds(1), "similar warnings"};
};

// Serves one accepted client connection until it closes. Runs on the worker's thread.
boost::asio::awaitable<void> serve_plain(boost::asio::ip::tcp::socket socket, Worker& worker);
boost::asio::awaitable<void> serve_tls(boost::asio::ip::tcp::socket socket, Worker& worker);

}  // namespace plextap::proxy
