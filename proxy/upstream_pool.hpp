// Keep-alive connections to the Plex server, one pool per I/O thread (sessions are
// pinned to a thread, so the pool needs no lock).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "proxy/metrics.hpp"

namespace plextap::proxy {

struct UpstreamConnection {
  UpstreamConnection(const boost::asio::any_io_executor& ex, MetricsShard& metrics);
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  boost::beast::tcp_stream stream;
  boost::beast::flat_buffer buffer;
  bool reused = false;  // came from the pool: may have been closed by the server meanwhile
  std::chrono::steady_clock::time_point idle_since;
  MetricsShard& metrics;
};

class UpstreamPool {
 public:
  UpstreamPool(boost::asio::any_io_executor ex, std::vector<boost::asio::ip::tcp::endpoint> eps,
               std::chrono::milliseconds connect_timeout, std::chrono::milliseconds idle_timeout,
               MetricsShard& metrics);

  // An idle connection that is still open, or a new one.
  boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> acquire(
      boost::system::error_code& ec);
  // A new connection, never a pooled one.
  boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> connect(
      boost::system::error_code& ec);
  // Returns a connection whose last response ended cleanly with keep-alive.
  void release(std::unique_ptr<UpstreamConnection> conn);
  // Closes connections idle for too long or closed by the server.
  void sweep();
  void close_all() { idle_.clear(); }

 private:
  boost::asio::any_io_executor ex_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds idle_timeout_;
  MetricsShard& metrics_;
  std::vector<std::unique_ptr<UpstreamConnection>> idle_;  // most recently used last
};

}  // namespace plextap::proxy
