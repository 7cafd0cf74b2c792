// `plextap serve` as a whole: I/O threads, listeners, the admin endpoint, signals.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "capture/tap.hpp"
#include "proxy/config.hpp"

namespace plextap::proxy {

class Responder;

class Server {
 public:
  // With a `responder`, requests are answered by it and nothing is forwarded (the
  // upstream is neither resolved nor contacted); it must outlive the server.
  Server(const Config& config, capture::Tap& tap, Responder* responder = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listener (throws std::runtime_error when one cannot be bound), then
  // serves until SIGTERM or SIGINT, lets in-flight requests finish (drain timeout) and
  // returns. SIGHUP reloads the TLS certificate files and reopens the access log file;
  // SIGUSR1 reopens the access log only.
  void run();
  // Adds Prometheus text lines from `source` to /metrics, after the proxy's own and those
  // added before (before run(); called on an I/O thread for every scrape, so it must be
  // quick).
  void add_metrics(std::function<std::string()> source);
  // Called once on an I/O thread as serving starts, every listener (the admin one too)
  // bound and accepting; and once when the drain starts, before anything closes. Both
  // before run(); they must be quick. (`serve` tells systemd through them.)
  void on_ready(std::function<void()> hook);
  void on_draining(std::function<void()> hook);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plextap::proxy
