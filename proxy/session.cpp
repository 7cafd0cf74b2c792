// One client connection: read a request head, forward the request to the Plex server
// through a pooled connection, stream the response back; repeat while keep-alive holds.
// Bodies pass through a fixed 64 KiB buffer piece by piece (proxy/relay.hpp), so memory
// does not grow with body size and never-ending responses (server-sent events) flow as
// they arrive.
//
// Framing is the proxy's own (proxy/framing.hpp): every head is checked and written
// anew, bodies are re-framed as they pass, and an upstream connection goes back to the
// pool only when its response ended exactly where its framing said. No client can be
// handed the bytes of another client's answer.
//
// An exchange is three steps: send_request (the head, and the body if any, relayed),
// read_response_head (skipping interim answers, retrying once on a pooled connection
// the server had closed) and relay_response (head and body to the client); the last two
// run under a ClientWatch, which notices a client that leaves meanwhile.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "proxy/session.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using net::ip::tcp;

namespace {

// The errors of a pooled connection the server closed while it was idle.
bool closed_by_server(error_code ec) {
  return ec == net::error::eof || ec == http::error::end_of_stream ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == net::ssl::error::stream_truncated;
}

}  // namespace

template <class Stream, class Upstream>
net::awaitable<void> Session<Stream, Upstream>::run() {
  auto& tcp_layer = beast::get_lowest_layer(client_);
  metrics_.add(metrics_.client_connections_total);
  metrics_.client_connections.fetch_add(1, std::memory_order_relaxed);

  auto timeout = config_.header_timeout;
  for (bool keep_alive = true; keep_alive && !shared_.draining;) {
    // Idle keep-alive connections should cost little: a large read buffer goes back
    // here, between requests.
    if (buffer_.capacity() > 16 * 1024 && buffer_.size() == 0) buffer_.shrink_to_fit();
    request_head_in_.trim();
    response_head_in_.trim();
    RequestParser parser(request_head_in_);
    parser.header_limit(static_cast<std::uint32_t>(config_.max_header_bytes));
    parser.body_limit(boost::none);
    tcp_layer.expires_after(timeout);
    // Waiting for a head is being idle: the drain cancels this read, and only this one.
    idle_read_.begin();
    auto [ec, n] = co_await http::async_read_header(
        client_, buffer_, parser, net::bind_cancellation_slot(idle_read_.slot(), kUseTuple));
    idle_read_.end();
    timeout = config_.keepalive_timeout;
    if (ec) {
      co_await reject_bad_head(ec);
      break;
    }
    metrics_.add(metrics_.bytes_from_clients, n);
    keep_alive = co_await forward(parser);
  }
  co_await close_client();
  metrics_.client_connections.fetch_sub(1, std::memory_order_relaxed);
}

// Answers one request and says whether the connection can carry another.
template <class Stream, class Upstream>
net::awaitable<bool> Session<Stream, Upstream>::forward(RequestParser& parser) {
  auto started = std::chrono::steady_clock::now();
  client_version_ = parser.version() >= 11 ? 11 : 10;
  const RequestHeadIn head{parser.method(), parser.target(), parser.version(), parser.fields()};
  RequestPlan plan = plan_request(head, shared_.upstream_host);
  if (!plan.reject && !parser_agrees(plan, parser)) {
    plan.reject = 400;
    plan.reason = "ambiguous message framing";
  }

  // What the access log needs after the head is rewritten (copied only when logging).
  AccessHead logged;
  if (shared_.access_log.enabled()) {
    logged.method = parser.method();
    logged.target = parser.target();
    logged.user_agent = parser.field("User-Agent");
    logged.referer = parser.field("Referer");
    logged.product =
        client_product(parser.field("X-Plex-Product"), logged.target, logged.user_agent);
    logged.version = parser.version();
  }

  if (plan.reject) {
    // Nothing of it is forwarded, and the connection closes: what follows the head on
    // the wire could be read as a body or as another request.
    metrics_.add(metrics_.bad_requests);
    co_await send_error(plan.reject, plan.reason);
    metrics_.observe_response(plan.reject, std::chrono::steady_clock::now() - started);
    log_access(logged, plan.reject, 0, std::chrono::steady_clock::now() - started);
    co_return false;
  }

  std::unique_ptr<capture::Recording> recording;
  // The target as the server gets it (an absolute-form one without a path gains its "/").
  target_.assign(plan.slash ? "/" : "").append(plan.target);
  if (shared_.tap.wants(parser.method(), target_)) {
    capture::RequestHead rhead{
        parser.method(), target_, parser.fields(), remote_, std::chrono::system_clock::now(), tls_};
    recording = shared_.tap.open(rhead);
  }

  Outcome out;
  if (shared_.responder)
    out = co_await answer_locally(parser, plan);
  else
    out = co_await exchange(parser, head, plan, recording.get());
  if (recording) recording->finish(out.complete);
  if (out.status) metrics_.observe_response(out.status, std::chrono::steady_clock::now() - started);
  log_access(logged, out.status, out.bytes_sent, std::chrono::steady_clock::now() - started);
  co_return out.keep_alive;
}

template <class Stream, class Upstream>
auto Session<Stream, Upstream>::exchange(RequestParser& parser, const RequestHeadIn& head,
                                         const RequestPlan& plan, capture::Recording* recording)
    -> net::awaitable<Outcome> {
  Sent sent = co_await send_request(parser, head, plan, recording);
  if (sent.done) co_return *sent.done;

  // The client has sent all of this request: from here on, watch for it leaving, so an
  // abandoned stream or long poll lets go of its server connection at once. An answer
  // that is there already, whole, needs no watch (and saves arranging one): a read that
  // does not wait comes first.
  watch_upstream_ = &sent.up;
  auto& client_socket = beast::get_lowest_layer(client_).socket();
  if (sent.ec || !read_now(*sent.up)) watch_.start(client_socket, &on_client_gone_);
  std::optional<ResponseParser> rp;
  std::optional<Outcome> failed =
      co_await read_response_head(sent.up, rp, plan, sent.ec, sent.body_streamed);
  if (!failed && !watch_.active() && !rp->is_done() && !body_already_buffered(*sent.up, *rp))
    watch_.start(client_socket, &on_client_gone_);
  Outcome out;
  if (failed)
    out = *failed;
  else
    out = co_await relay_response(sent.up, *rp, plan, recording);
  watch_.stop();
  watch_upstream_ = nullptr;
  if (out.tunnel) {
    metrics_.add(metrics_.websocket_tunnels);
    co_await run_tunnel(client_, buffer_, sent.up->stream, sent.up->buffer, response_head_,
                        metrics_);
  }
  co_return out;
}

// Reads what the server has sent already into the connection's buffer, without waiting;
// true if that holds the end of a head (a head still coming would be waited for unwatched).
// Only over plain TCP: a TLS upstream is read as before.
template <class Stream, class Upstream>
bool Session<Stream, Upstream>::read_now(Connection& up) {
  if constexpr (std::is_same_v<Upstream, beast::tcp_stream>) {
    auto& socket = up.stream.socket();
    error_code ec;
    if (!socket.non_blocking()) socket.non_blocking(true, ec);  // once per connection
    std::size_t n = 0;
    if (!ec) n = socket.read_some(up.buffer.prepare(kReadNow), ec);
    up.buffer.commit(n);
    if (ec || n == 0) return false;  // would_block, or a failure the next read meets again
    const auto data = up.buffer.cdata();
    return std::string_view(static_cast<const char*>(data.data()), data.size()).find("\r\n\r\n") !=
           std::string_view::npos;
  } else {
    return false;
  }
}

// Step one: a connection from the pool, and the request on it (the head alone, or the
// head with the body relayed from the client).
template <class Stream, class Upstream>
auto Session<Stream, Upstream>::send_request(RequestParser& parser, const RequestHeadIn& head,
                                             const RequestPlan& plan,
                                             capture::Recording* recording)
    -> net::awaitable<Sent> {
  request_head_.clear();
  write_request_head(request_head_, head, plan, remote_, tls_);
  Sent sent;
  const auto asked = std::chrono::steady_clock::now();
  sent.up = pool().take_idle();
  if (!sent.up) sent.up = co_await pool().acquire(sent.ec);
  // A request that took a while to get its connection (it waited for a place, or a new
  // connection was made) goes out only if its client is still there: nobody would read
  // the answer to a scrobble sent for a client that gave up.
  if (std::chrono::steady_clock::now() - asked > std::chrono::milliseconds(1) &&
      peer_closed(beast::get_lowest_layer(client_).socket())) {
    metrics_.add(metrics_.client_aborts);
    if (sent.up) pool().release(std::move(sent.up));
    sent.done = Outcome{};
    co_return sent;
  }
  if (sent.ec) {
    sent.done = co_await fail_connect(sent.ec);
    co_return sent;
  }

  sent.body_streamed = !parser.is_done();
  if (!sent.body_streamed) {
    // No body: the head goes out as one contiguous buffer, one plain send.
    sent.up->stream.expires_after(config_.upstream_timeout);
    auto [wec, n] =
        co_await net::async_write(sent.up->stream, net::buffer(request_head_), kUseTuple);
    sent.ec = wec;
    metrics_.add(metrics_.bytes_to_upstream, n);
  } else {
    if (plan.expects_continue) co_await write_raw("HTTP/1.1 100 Continue\r\n\r\n");
    auto relay =
        co_await relay_body(client_, buffer_, parser, sent.up->stream, plan.body, relay_buffer(),
                            request_head_, BodyGuard{*this}, [&](std::string_view piece) {
                              metrics_.add(metrics_.bytes_from_clients, piece.size());
                              if (recording) recording->request_body(piece);
                            });
    metrics_.add(metrics_.bytes_to_upstream, relay.written);
    if (relay.source_failed) {
      sent.done = co_await fail_request_body(relay);
      co_return sent;
    }
    sent.ec = relay.ec;
  }
  co_return sent;
}

// Step two: the final response head into `rp`, or the outcome of an exchange that ended
// without one. A pooled connection the server had closed is replaced once, when sending
// the request again is safe.
template <class Stream, class Upstream>
auto Session<Stream, Upstream>::read_response_head(std::unique_ptr<Connection>& up,
                                                   std::optional<ResponseParser>& rp,
                                                   const RequestPlan& plan, error_code ec,
                                                   bool body_streamed)
    -> net::awaitable<std::optional<Outcome>> {
  for (int attempt = 0;; ++attempt) {
    bool answer_started = false;
    if (!ec) {
      up->stream.expires_after(config_.upstream_timeout);
      ec = co_await read_final_head(*up, rp, plan.head, answer_started);
    }
    if (!ec) co_return std::nullopt;
    if (watch_.gone()) co_return Outcome{};  // the client left; nobody to answer
    if (ec == beast::error::timeout) {
      metrics_.add(metrics_.upstream_timeouts);
      std::string reason = "upstream " + shared_.upstream_name + " did not answer in time";
      co_return co_await fail_upstream(504, reason);
    }
    // A pooled connection the server closed while it sat idle: the request never
    // reached anyone, and sending it again is safe only if it changes nothing on the
    // server and nothing of an answer came back.
    const bool retry = attempt == 0 && up->reused && plan.idempotent && !body_streamed &&
                       !answer_started && closed_by_server(ec);
    if (!retry) {
      std::string reason = "upstream " + shared_.upstream_name + " failed: " + ec.message();
      co_return co_await fail_upstream(502, reason);
    }
    up.reset();  // its place in the budget goes to the new one
    up = co_await pool().acquire_new(ec);
    if (ec) co_return co_await fail_connect(ec);
    up->stream.expires_after(config_.upstream_timeout);
    auto [wec, n] = co_await net::async_write(up->stream, net::buffer(request_head_), kUseTuple);
    ec = wec;
    metrics_.add(metrics_.bytes_to_upstream, n);
  }
}

// Reads a response head, skipping interim 1xx answers (but not 101). `started` becomes
// true once any byte of an answer has arrived.
template <class Stream, class Upstream>
net::awaitable<error_code> Session<Stream, Upstream>::read_final_head(
    Connection& up, std::optional<ResponseParser>& rp, bool head_only, bool& started) {
  for (;;) {
    rp.emplace(response_head_in_);
    rp->header_limit(static_cast<std::uint32_t>(config_.max_header_bytes));
    rp->body_limit(boost::none);
    if (head_only) rp->skip(true);
    // A head that has arrived whole (read_now) is parsed where it lies; else it is read.
    error_code ec;
    std::size_t n = 0;
    if (up.buffer.size()) {
      n = rp->put(up.buffer.data(), ec);
      up.buffer.consume(n);
      if (ec == http::error::need_more) ec = {};
    }
    if (!ec && !rp->is_header_done()) {
      auto [rec, rn] = co_await http::async_read_header(up.stream, up.buffer, *rp, kUseTuple);
      ec = rec;
      n += rn;
    }
    if (n || up.buffer.size()) started = true;
    if (ec) co_return ec;
    metrics_.add(metrics_.bytes_from_upstream, n);
    // By number: Beast's status enum maps codes it does not know (103 Early Hints,
    // 104-199) to `unknown`, which is not informational.
    const unsigned status = rp->status();
    if (status / 100 != 1 || status == 101) co_return error_code{};
  }
}

// Step three: the response head checked and written anew, then the body relayed in the
// framing the client gets. The connection goes back to the pool only when it is clean.
template <class Stream, class Upstream>
auto Session<Stream, Upstream>::relay_response(std::unique_ptr<Connection>& up,
                                               ResponseParser& rp, const RequestPlan& plan,
                                               capture::Recording* recording)
    -> net::awaitable<Outcome> {
  Outcome out;
  const ResponseHeadIn head{rp.status(), rp.reason(), rp.version(), rp.fields()};
  ResponsePlan rplan = plan_response(
      head, ResponseContext{plan.head, plan.upgrade, client_version_, plan.keep_alive});
  if (!rplan.bad && !parser_agrees(rplan, rp)) {
    rplan.bad = true;
    rplan.reason = "ambiguous message framing";
  }
  if (rplan.bad) {
    // That connection is dropped with whatever it still holds.
    std::string reason = "upstream " + shared_.upstream_name +
                         " sent an answer that can't be relayed safely: " + rplan.reason;
    co_return co_await fail_upstream(502, reason);
  }
  out.status = head.status;
  if (recording) recording->response_head(capture::ResponseHead{head.status, rp.fields()});
  rplan.keep_alive = rplan.keep_alive && !shared_.draining;
  response_head_.clear();
  write_response_head(response_head_, head, rplan, client_version_);
  if (rplan.tunnel) {
    out.tunnel = true;
    co_return out;
  }

  std::uint64_t written = 0;
  if (rp.is_done()) {
    beast::get_lowest_layer(client_).expires_after(kIdleTimeout);
    auto [wec, n] = co_await net::async_write(client_, net::buffer(response_head_), kUseTuple);
    written = n;
    if (wec) co_return out;
  } else {
    // A long body is read in 64 KiB pieces: the pooled connection's buffer grows once.
    if (!rp.content_length() || *rp.content_length() > 16 * 1024) up->buffer.reserve(kRelayBuffer);
    std::string_view pending = response_head_;
    if (!body_already_buffered(*up, rp)) {
      // Send the head now: a stream (server-sent events, long poll) may wait long for
      // its body.
      beast::get_lowest_layer(client_).expires_after(kIdleTimeout);
      auto [wec, n] = co_await net::async_write(client_, net::buffer(pending), kUseTuple);
      written = n;
      if (wec) co_return out;
      pending = {};
    }
    auto relay =
        co_await relay_body(up->stream, up->buffer, rp, client_, rplan.to_client, relay_buffer(),
                            pending, UpstreamGuard{up->stream}, [&](std::string_view piece) {
                              out.bytes_sent += piece.size();
                              if (recording) recording->response_body(piece);
                            });
    written += relay.written;
    release_relay_buffer();
    metrics_.add(metrics_.bytes_from_upstream, out.bytes_sent);
    if (relay.ec) {
      metrics_.add(metrics_.bytes_to_clients, written);
      if (relay.source_failed && !watch_.gone()) metrics_.add(metrics_.upstream_errors);
      co_return out;  // mid-body: nothing to do but close both sides
    }
  }
  metrics_.add(metrics_.bytes_to_clients, written);
  out.complete = true;
  out.keep_alive = rplan.keep_alive;
  if (rplan.server_keep_alive && rp.is_done() && !watch_.gone()) pool().release(std::move(up));
  co_return out;
}

namespace {

// The upstream's kind is fixed for the process; the choice is made once per connection.
template <class Stream>
net::awaitable<void> run_session(Stream& stream, Worker& worker, bool tls) {
  if (worker.shared.config.upstream.tls) {
    Session<Stream, TlsStream> session(stream, worker, tls);
    co_await session.run();
  } else {
    Session<Stream, beast::tcp_stream> session(stream, worker, tls);
    co_await session.run();
  }
}

}  // namespace

net::awaitable<void> serve_plain(tcp::socket socket, Worker& worker) {
  beast::tcp_stream stream(std::move(socket));
  co_await run_session(stream, worker, false);
}

net::awaitable<void> serve_tls(tcp::socket socket, Worker& worker) {
  auto ctx = worker.shared.tls_context();  // the SSL object keeps its own reference
  TlsStream stream(std::move(socket), ctx.get());
  stream.expires_after(worker.shared.config.header_timeout);
  auto [ec, n] = co_await stream.async_handshake(kUseTuple);
  if (ec) {
    worker.metrics.add(worker.metrics.tls_handshake_errors);
    co_return;
  }
  co_await run_session(stream, worker, true);
}

}  // namespace plextap::proxy
