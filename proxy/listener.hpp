// The client listeners: one acceptor per I/O thread on each listen address, sharing the
// port (SO_REUSEPORT), each accepting on its own thread and handing connections to that
// thread's sessions. Internal to proxy/: it carries Asio types.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <deque>
#include <memory>
#include <vector>

#include "proxy/config.hpp"
#include "proxy/worker.hpp"

namespace plextap::proxy {

class Listener {
 public:
  explicit Listener(std::deque<Worker>& workers) : workers_(workers) {}

  // Binds `endpoint` on every worker and starts accepting on each (once the workers
  // run); throws std::runtime_error when it cannot be bound.
  void bind(const Endpoint& endpoint);
  // Closes every acceptor, each on its own thread: new connections are refused, and the
  // accept loops end.
  void stop();

 private:
  std::deque<Worker>& workers_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;  // each on one worker
};

}  // namespace plextap::proxy
