// Keep-alive connections to the Plex server, one pool per I/O thread (sessions are
// pinned to a thread, so the pool needs no lock). A pool is a template over the stream:
// plain TCP (beast::tcp_stream) or TLS (TlsStream), so the plain path pays nothing for
// https upstreams.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "proxy/metrics.hpp"
#include "proxy/tls_stream.hpp"

namespace plextap::proxy {

template <class Stream>
struct UpstreamConnection {
  UpstreamConnection(Stream s, MetricsShard& metrics);
  ~UpstreamConnection();
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  Stream stream;
  boost::beast::flat_buffer buffer;
  bool reused = false;  // came from the pool: may have been closed by the server meanwhile
  std::chrono::steady_clock::time_point idle_since;
  MetricsShard& metrics;
};

// What connections to an https upstream need: the client context, and the name sent as
// SNI and checked against the certificate.
struct UpstreamTls {
  std::shared_ptr<SSL_CTX> context;
  std::string server_name;
  bool verify = true;
};

template <class Stream>
class UpstreamPool {
 public:
  using Connection = UpstreamConnection<Stream>;

  // `tls` is used by the TLS pool only and must outlive it.
  UpstreamPool(boost::asio::any_io_executor ex, std::vector<boost::asio::ip::tcp::endpoint> eps,
               std::chrono::milliseconds connect_timeout, std::chrono::milliseconds idle_timeout,
               MetricsShard& metrics, const UpstreamTls& tls);

  // An idle connection that is still open with nothing to read, or a new one.
  boost::asio::awaitable<std::unique_ptr<Connection>> acquire(boost::system::error_code& ec);
  // A new connection (TCP connect, then the TLS handshake if any), never a pooled one.
  boost::asio::awaitable<std::unique_ptr<Connection>> connect(boost::system::error_code& ec);
  // Returns a connection whose last response ended with keep-alive, exactly where its
  // framing said; one with anything buffered past that end is closed instead.
  void release(std::unique_ptr<Connection> conn);
  // Closes connections idle for too long or closed by the server.
  void sweep();
  void close_all() { idle_.clear(); }

 private:
  boost::asio::any_io_executor ex_;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints_;
  std::chrono::milliseconds connect_timeout_;
  std::chrono::milliseconds idle_timeout_;
  MetricsShard& metrics_;
  const UpstreamTls& tls_;
  std::vector<std::unique_ptr<Connection>> idle_;  // most recently used last
};

extern template struct UpstreamConnection<boost::beast::tcp_stream>;
extern template struct UpstreamConnection<TlsStream>;
extern template class UpstreamPool<boost::beast::tcp_stream>;
extern template class UpstreamPool<TlsStream>;

}  // namespace plextap::proxy
