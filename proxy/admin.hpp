// The admin endpoint: /metrics (Prometheus text), /healthz and /readyz, on a listener of
// its own served by one I/O thread. /metrics renders the proxy's own metrics, then each
// registered source in turn. Internal to proxy/: it carries Asio types.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proxy/config.hpp"
#include "proxy/worker.hpp"

namespace plextap::proxy {

// Prometheus text lines, each ending in "\n"; called on an I/O thread for every scrape,
// so it must be quick.
using MetricsSource = std::function<std::string()>;

class Admin {
 public:
  // `own` renders the proxy's metrics; `sources` follow it, in order, on every scrape.
  // `worker` runs the listener and its connections.
  Admin(Worker& worker, const Shared& shared, MetricsSource own, std::vector<MetricsSource> sources);

  // Binds the listener and starts serving (once the worker runs); throws
  // std::runtime_error when it cannot be bound.
  void start(const Endpoint& address);
  // Closes the listener; called on the worker's thread.
  void stop();

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);
  std::string metrics_text() const;

  Worker& worker_;
  const Shared& shared_;
  MetricsSource own_;
  std::vector<MetricsSource> sources_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
};

}  // namespace plextap::proxy
