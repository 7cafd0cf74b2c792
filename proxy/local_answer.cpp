// Answering without a server (`plextap replay serve`): the session hands each request
// to the Responder (proxy/responder.hpp) and writes its reply with the proxy's framing.
// Listeners, TLS, limits, access log and admin endpoint are those of `serve`.
#include <array>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "proxy/responder.hpp"
#include "proxy/session.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

// The responder answers from memory. A request body is read and dropped, as matching
// uses the method, path and query alone.
template <class Stream, class Upstream>
auto Session<Stream, Upstream>::answer_locally(RequestParser& parser, const RequestPlan& plan)
    -> net::awaitable<Outcome> {
  Outcome out;
  if (!parser.is_done()) {
    if (plan.expects_continue) co_await write_raw("HTTP/1.1 100 Continue\r\n\r\n");
    char* buf = relay_buffer();
    BodyGuard guard{*this};
    while (!parser.is_done()) {
      parser.body().data = buf;
      parser.body().size = kRelayBuffer;
      guard.begin();
      auto [ec, n] = co_await http::async_read_some(client_, buffer_, parser, kUseTuple);
      const bool timed_out = guard.end();
      if (ec == http::error::need_buffer) ec = {};
      if (ec || timed_out) {
        RelayResult failed{timed_out ? beast::error::timeout : ec, true, timed_out, 0};
        co_return co_await fail_request_body(failed);
      }
      metrics_.add(metrics_.bytes_from_clients, n);
    }
    release_relay_buffer();
  }
  auto reply = shared_.responder->respond(LocalRequest{parser.method(), target_, parser.fields()});

  const bool keep_alive = plan.keep_alive && !shared_.draining;
  const bool bodyless =
      plan.head || reply->status == 204 || reply->status == 304 || reply->status < 200;
  std::string& framing = response_head_;
  framing.clear();
  // 204 and 1xx have no length; a 304's would claim the length of the resource.
  if (!(reply->status == 204 || reply->status == 304 || reply->status < 200 ||
        reply->head_has_length))
    framing.append("Content-Length: ").append(std::to_string(reply->body.size())).append("\r\n");
  if (!keep_alive)
    framing.append("Connection: close\r\n");
  else if (client_version_ < 11)
    framing.append("Connection: keep-alive\r\n");
  framing.append("\r\n");
  std::string_view body = bodyless ? std::string_view{} : std::string_view(reply->body);
  beast::get_lowest_layer(client_).expires_after(kIdleTimeout);
  error_code ec;
  std::size_t n = 0;
  if (reply->head.size() + framing.size() + body.size() <= 16 * 1024) {
    // Small answers leave in one write (and, over TLS, one record).
    framing.insert(0, reply->head);
    framing.append(body);
    std::tie(ec, n) = co_await net::async_write(client_, net::buffer(framing), kUseTuple);
  } else {
    std::array<net::const_buffer, 3> pieces{net::buffer(reply->head), net::buffer(framing),
                                            net::buffer(body)};
    std::tie(ec, n) = co_await net::async_write(client_, pieces, kUseTuple);
  }
  metrics_.add(metrics_.bytes_to_clients, n);
  out.status = reply->status;
  out.bytes_sent = body.size();
  out.complete = !ec;
  out.keep_alive = !ec && keep_alive;
  co_return out;
}

#define PLEXTAP_INSTANTIATE(S, U)                                                 \
  template auto Session<S, U>::answer_locally(RequestParser&, const RequestPlan&) \
      ->net::awaitable<Outcome>;
PLEXTAP_FOR_EACH_SESSION(PLEXTAP_INSTANTIATE)
#undef PLEXTAP_INSTANTIATE

}  // namespace plextap::proxy
