// The parts of the relay that are not templates: half close and the tunnel's watchdog.
#include "proxy/relay.hpp"

#include <boost/asio/steady_timer.hpp>

namespace plextap::proxy {
namespace net = boost::asio;
using boost::system::error_code;
using net::ip::tcp;

net::awaitable<void> half_close(TlsStream& s) {
  s.expires_after(std::chrono::seconds(5));
  co_await s.async_shutdown(kUseTuple);
}

net::awaitable<void> half_close(boost::beast::tcp_stream& s) {
  error_code ignored;
  s.socket().shutdown(tcp::socket::shutdown_send, ignored);
  co_return;
}

net::awaitable<void> tunnel_watchdog(TunnelActivity& activity, tcp::socket& a, tcp::socket& b) {
  net::steady_timer timer(a.get_executor());
  for (;;) {
    timer.expires_at(activity.last + kTunnelIdle);
    auto [ec] = co_await timer.async_wait(kUseTuple);
    if (ec) co_return;  // the tunnel ended first
    if (std::chrono::steady_clock::now() - activity.last >= kTunnelIdle) break;
  }
  error_code ignored;
  a.shutdown(tcp::socket::shutdown_both, ignored);
  b.shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace plextap::proxy
