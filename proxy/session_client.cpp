// A session's dealings with its client apart from relaying: the answers the proxy
// writes itself (bad heads, failed bodies, unreachable or failing servers, 100 Continue),
// the watch on a client whose answer is pending, the access log line, and the close.
#include <poll.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "proxy/responder.hpp"
#include "proxy/session.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using net::ip::tcp;

std::string remote_address(const tcp::socket& socket) {
  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "-";
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    return net::ip::make_address_v4(net::ip::v4_mapped, addr.to_v6()).to_string();
  return addr.to_string();
}

bool peer_closed(tcp::socket& socket) {
  pollfd p{socket.native_handle(), POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

bool client_left(error_code ec) {
  return ec == beast::error::timeout || ec == http::error::partial_message ||
         ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::operation_aborted || ec == net::ssl::error::stream_truncated;
}

// A head that could not be read: answer when the client deserves an answer.
template <class Stream, class Upstream>
net::awaitable<void> Session<Stream, Upstream>::reject_bad_head(error_code ec) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
      ec == net::error::operation_aborted || ec == net::error::eof ||
      ec == net::error::connection_reset || ec == net::ssl::error::stream_truncated ||
      buffer_.size() == 0)
    co_return;  // closed, idle too long, or shut down: nothing to say
  metrics_.add(metrics_.bad_requests);
  unsigned status = ec == http::error::header_limit ? 431 : 400;
  // Arguments of a co_await are built first, as named locals: GCC 12 mishandles
  // temporaries that live across a suspension point.
  std::string reason =
      ec == http::error::header_limit
          ? "request head larger than " + std::to_string(config_.max_header_bytes) + " bytes"
          : "malformed request: " + ec.message();
  co_await send_error(status, reason);
  metrics_.observe_response(status, {});
  log_access(AccessHead{"-", "-", "", "", "", 11}, status, 0, {});
}

// A request body that broke off: the client left, sent a malformed body (400), or
// stopped sending for the body timeout (408). The upstream connection, holding a
// partial request, is closed with the exchange.
template <class Stream, class Upstream>
auto Session<Stream, Upstream>::fail_request_body(const RelayResult& relay)
    -> net::awaitable<Outcome> {
  release_relay_buffer();
  Outcome out;
  if (relay.timed_out) {
    metrics_.add(metrics_.body_timeouts);
    std::string reason =
        "request body made no progress for " + std::to_string(config_.body_timeout.count()) + " ms";
    co_await send_error(408, reason);
    out.status = 408;
    co_return out;
  }
  metrics_.add(metrics_.bad_requests);
  if (client_left(relay.ec)) co_return out;
  std::string reason = "malformed request body: " + relay.ec.message();
  co_await send_error(400, reason);
  out.status = 400;
  co_return out;
}

template <class Stream, class Upstream>
auto Session<Stream, Upstream>::fail_connect(error_code ec) -> net::awaitable<Outcome> {
  if (ec == PoolError::busy) {
    // Every place of --upstream-max-connections stayed taken for the connect timeout,
    // or too many requests wait already: the server is overloaded, not gone.
    std::string reason = "upstream " + shared_.upstream_name + " busy: " + ec.message();
    worker_.warn_limited(reason);
    co_await send_error(503, reason);
    Outcome out;
    out.status = 503;
    co_return out;
  }
  std::string reason = "cannot connect to upstream " + shared_.upstream_name + ": " +
                       (is_tls_error(ec) ? "TLS handshake failed: " : "") + ec.message();
  co_return co_await fail_upstream(502, reason);
}

template <class Stream, class Upstream>
auto Session<Stream, Upstream>::fail_upstream(unsigned status, const std::string& reason)
    -> net::awaitable<Outcome> {
  if (status == 502) metrics_.add(metrics_.upstream_errors);  // 504s count as timeouts
  worker_.warn_limited(reason);
  co_await send_error(status, reason);
  Outcome out;
  out.status = status;
  co_return out;  // close: the request body may still be on the wire
}

template <class Stream, class Upstream>
net::awaitable<void> Session<Stream, Upstream>::send_error(unsigned status,
                                                           const std::string& reason) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::server, "plextap");
  res.set(http::field::content_type, "text/xml; charset=utf-8");
  if (status == 503) res.set(http::field::retry_after, "2");
  res.body() = error_page(status, reason);
  res.keep_alive(false);
  res.prepare_payload();
  beast::get_lowest_layer(client_).expires_after(std::chrono::seconds(5));
  auto [ec, n] = co_await http::async_write(client_, res, kUseTuple);
  metrics_.add(metrics_.bytes_to_clients, n);
}

template <class Stream, class Upstream>
net::awaitable<void> Session<Stream, Upstream>::write_raw(std::string_view bytes) {
  beast::get_lowest_layer(client_).expires_after(std::chrono::seconds(5));
  auto [ec, n] = co_await net::async_write(client_, net::buffer(bytes), kUseTuple);
  (void)ec;
}

template <class Stream, class Upstream>
net::awaitable<void> Session<Stream, Upstream>::close_client() {
  error_code ec;
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    // A TLS close_notify, bounded: some clients just drop the connection.
    if (!shared_.draining) {
      beast::get_lowest_layer(client_).expires_after(std::chrono::seconds(1));
      auto [sec, n] = co_await client_.async_shutdown(kUseTuple);
      (void)sec;
    }
  }
  beast::get_lowest_layer(client_).socket().shutdown(tcp::socket::shutdown_send, ec);
  beast::get_lowest_layer(client_).close();
}

template <class Stream, class Upstream>
void Session<Stream, Upstream>::log_access(const AccessHead& head, unsigned status,
                                           std::uint64_t bytes,
                                           std::chrono::steady_clock::duration took) {
  if (!shared_.access_log.enabled()) return;
  shared_.access_log.write(AccessRecord{
      remote_, head.method, head.target, head.product, status, bytes,
      std::chrono::duration_cast<std::chrono::microseconds>(took), head.version, head.referer,
      head.user_agent});
}

void ClientWatch::stop() {
  auto& s = *state_;
  if (!s.active) return;
  s.active = false;
  ++s.generation;
  error_code ignored;
  if (s.waiting) s.client->cancel(ignored);
  s.poll_timer.cancel();
  s.waiting = false;
}

void ClientWatch::wait(const std::shared_ptr<State>& st, std::uint64_t generation) {
  st->waiting = true;
  st->client->async_wait(tcp::socket::wait_read, [st, generation](error_code ec) {
    if (!st->active || st->generation != generation) return;
    st->waiting = false;
    if (ec) return;  // the socket failed or closed: the answer's write will say so
    ready(st, generation);
  });
}

void ClientWatch::ready(const std::shared_ptr<State>& st, std::uint64_t generation) {
  if (peer_closed(*st->client)) {
    st->active = false;
    st->gone = true;
    (*st->on_gone)();
    return;
  }
  // Bytes wait to be read (a next request, or a TLS record): look for the close by poll.
  st->poll_timer.expires_after(kPollEvery);
  st->poll_timer.async_wait([st, generation](error_code ec) {
    if (ec || !st->active || st->generation != generation) return;
    ready(st, generation);
  });
}

// The watched client left: its answer's server connection is shut down, not closed (a TLS
// upstream's OpenSSL still holds the descriptor), which ends the exchange on that side.
template <class Stream, class Upstream>
void Session<Stream, Upstream>::client_gone() {
  metrics_.add(metrics_.client_aborts);
  if (watch_upstream_ && *watch_upstream_) {
    error_code ignored;
    auto& socket = (*watch_upstream_)->stream.socket();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.cancel(ignored);
  }
}

#define PLEXTAP_INSTANTIATE(S, U)                                                              \
  template net::awaitable<void> Session<S, U>::reject_bad_head(error_code);                    \
  template auto Session<S, U>::fail_request_body(const RelayResult&)->net::awaitable<Outcome>; \
  template auto Session<S, U>::fail_connect(error_code)->net::awaitable<Outcome>;              \
  template auto Session<S, U>::fail_upstream(unsigned, const std::string&)                     \
      ->net::awaitable<Outcome>;                                                               \
  template net::awaitable<void> Session<S, U>::send_error(unsigned, const std::string&);       \
  template net::awaitable<void> Session<S, U>::write_raw(std::string_view);                    \
  template net::awaitable<void> Session<S, U>::close_client();                                 \
  template void Session<S, U>::log_access(const AccessHead&, unsigned, std::uint64_t,          \
                                          std::chrono::steady_clock::duration);                \
  template void Session<S, U>::client_gone();
PLEXTAP_FOR_EACH_SESSION(PLEXTAP_INSTANTIATE)
#undef PLEXTAP_INSTANTIATE

}  // namespace plextap::proxy
