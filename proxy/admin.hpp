// The admin endpoint: /metrics (Prometheus text), /healthz and /readyz, on a listener of
// its own served by one I/O thread. /metrics renders the proxy's own metrics, then each
// registered source in turn; every other path goes to the AdminRoutes of the config (the
// dashboard), behind the admin token when one is set. Internal to proxy/: it carries Asio
// types.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config.hpp"
#include "proxy/worker.hpp"

namespace plextap::proxy {

// Who may see an admin path. With a token set, every path but /metrics, /healthz and
// /readyz needs it: as `Authorization: Bearer T`, as the cookie a `?token=T` link set, or in
// that link itself, which is answered with a redirect to the same target without it (so the
// token leaves the address bar and the history) that sets the cookie.
struct AdminAccess {
  enum Verdict { open, allowed, redirect, refused } verdict = refused;
  std::string location;    // redirect: the target without the token parameter
  std::string set_cookie;  // redirect: the Set-Cookie value
};
inline constexpr std::string_view kAdminCookie = "plextap_admin";
// `authorization` and `cookie` are the request's header values (empty when absent).
// Every comparison with the token takes the same time whatever the guess.
AdminAccess check_admin_access(std::string_view token, std::string_view target,
                               std::string_view authorization, std::string_view cookie);
// Equal secrets, compared in constant time (digests of both, so not even the length leaks).
bool same_secret(std::string_view a, std::string_view b);
// Whether a Host header names this machine's loopback: `localhost`, an address of
// 127.0.0.0/8 or `[::1]`, with or without a port. Without a token, the dashboard answers only
// such requests: a page elsewhere that points its own name at 127.0.0.1 (DNS rebinding)
// cannot read it from a browser on this machine.
bool loopback_host(std::string_view host);

// Prometheus text lines, each ending in "\n"; called on an I/O thread for every scrape,
// so it must be quick.
using MetricsSource = std::function<std::string()>;

class Admin {
 public:
  // `own` renders the proxy's metrics; `sources` follow it, in order, on every scrape.
  // `worker` runs the listener and its connections.
  Admin(Worker& worker, const Shared& shared, MetricsSource own,
        std::vector<MetricsSource> sources);

  // Binds the listener and starts serving (once the worker runs); throws
  // std::runtime_error when it cannot be bound.
  void start(const Endpoint& address);
  // Closes the listener; called on the worker's thread.
  void stop();

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);
  std::string metrics_text() const;
  void answer_routed(const boost::beast::http::request<boost::beast::http::string_body>& req,
                     boost::beast::http::response<boost::beast::http::string_body>& res) const;

  Worker& worker_;
  const Shared& shared_;
  MetricsSource own_;
  std::vector<MetricsSource> sources_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
};

}  // namespace plextap::proxy
