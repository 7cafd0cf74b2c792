// One client connection: read a request head, forward the request to the Plex server
// through a pooled connection, stream the response back; repeat while keep-alive holds.
// Bodies pass through a fixed 64 KiB buffer piece by piece, so memory does not grow with
// body size and never-ending responses (server-sent events) flow as they arrive.
//
// Framing is the proxy's own (proxy/framing.hpp): every head is checked and written
// anew, bodies are re-framed as they pass, and an upstream connection goes back to the
// pool only when its response ended exactly where its framing said. No client can be
// handed the bytes of another client's answer.
#include <poll.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "proxy/error_page.hpp"
#include "proxy/framing.hpp"
#include "proxy/responder.hpp"
#include "proxy/tls_stream.hpp"
#include "proxy/worker.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using net::ip::tcp;

namespace {

constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t kRelayBuffer = BufferPool::kSize;
constexpr std::size_t kPieceRoom = kRelayBuffer - kChunkPrefix - kChunkSuffix;
constexpr std::chrono::seconds kIdleTimeout{600};  // response body or tunnel without progress
// How much of a client's next request is read ahead while its current answer streams.
constexpr std::size_t kReadAheadLimit = 64 * 1024;

using RequestParser = http::request_parser<http::buffer_body>;
using ResponseParser = http::response_parser<http::buffer_body>;

std::string_view to_sv(beast::string_view s) {
  return {s.data(), s.size()};
}

template <class Fields>
void collect_fields(const Fields& fields, std::vector<Field>& out) {
  out.clear();
  for (const auto& f : fields) out.push_back({to_sv(f.name_string()), to_sv(f.value())});
}

std::string remote_address(const tcp::socket& socket) {
  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "-";
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    return net::ip::make_address_v4(net::ip::v4_mapped, addr.to_v6()).to_string();
  return addr.to_string();
}

// Whether the peer has closed or reset the connection (its side: data may still wait).
bool peer_closed(tcp::socket& socket) {
  pollfd p{socket.native_handle(), POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// The errors of a pooled connection the server closed while it was idle.
bool closed_by_server(error_code ec) {
  return ec == net::error::eof || ec == http::error::end_of_stream ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == net::ssl::error::stream_truncated;
}

// The errors of a client that went away (rather than one that sent garbage).
bool client_left(error_code ec) {
  return ec == beast::error::timeout || ec == http::error::partial_message ||
         ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::operation_aborted || ec == net::ssl::error::stream_truncated;
}

// A read deadline that cancels the socket's operations instead of closing it, so that
// the session can still answer (408) once it has passed. Beast's own timeouts close.
class SoftDeadline {
 public:
  explicit SoftDeadline(net::any_io_executor ex) : state_(std::make_shared<State>(ex)) {}
  ~SoftDeadline() { state_->timer.cancel(); }

  void arm(tcp::socket& socket, std::chrono::steady_clock::duration after) {
    auto& s = *state_;
    s.fired = false;
    s.timer.expires_after(after);
    s.timer.async_wait(
        [weak = std::weak_ptr<State>(state_), generation = ++s.generation, &socket](error_code ec) {
          auto st = weak.lock();
          if (ec || !st || st->generation != generation) return;
          st->fired = true;
          error_code ignored;
          socket.cancel(ignored);
        });
  }
  // True if the deadline passed (and cancelled the operation).
  bool disarm() {
    ++state_->generation;
    state_->timer.cancel();
    return state_->fired;
  }

 private:
  struct State {
    explicit State(net::any_io_executor ex) : timer(ex) {}
    net::steady_timer timer;
    std::uint64_t generation = 0;
    bool fired = false;
  };
  std::shared_ptr<State> state_;  // the handler holds it weakly: it may outlive the session
};

struct RelayResult {
  error_code ec;
  bool source_failed = false;  // else the sink (writer) failed
  bool timed_out = false;      // the source made no progress in time
  std::uint64_t written = 0;   // bytes written to the sink, framing included
};

// Moves a message body from the parser reading `src` to `dst` in `framing`: each piece is
// written as soon as it has been read, framed in place in the relay buffer. `pending` (a
// head not sent yet) leaves in the same write as the first piece. `guard` bounds each read:
// begin() before it, end() after, true when it timed out. `on_piece` sees every piece.
template <class Src, class Dst, class Parser, class Guard, class OnPiece>
net::awaitable<RelayResult> relay_body(Src& src, beast::flat_buffer& src_buffer, Parser& parser,
                                       Dst& dst, Framing framing, char* buf,
                                       std::string_view pending, Guard guard, OnPiece on_piece) {
  auto& body = parser.get().body();
  char* piece = buf + kChunkPrefix;
  RelayResult r;
  for (;;) {
    std::size_t n = 0;
    if (!parser.is_done()) {
      body.data = piece;
      body.size = kPieceRoom;
      guard.begin();
      auto [ec, got] = co_await http::async_read_some(src, src_buffer, parser, kUseTuple);
      if (guard.end()) {
        r.ec = beast::error::timeout;
        r.source_failed = r.timed_out = true;
        co_return r;
      }
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        r.ec = ec;
        r.source_failed = true;
        co_return r;
      }
      n = kPieceRoom - body.size;
      if (n) on_piece(std::string_view(piece, n));
    }
    const bool last = parser.is_done();
    auto bytes = frame_piece(piece, n, framing, last);
    if (!bytes.empty() || !pending.empty()) {
      beast::get_lowest_layer(dst).expires_after(kIdleTimeout);
      std::array<net::const_buffer, 2> out{net::buffer(pending.data(), pending.size()),
                                           net::buffer(bytes.data(), bytes.size())};
      auto [ec, written] = co_await net::async_write(dst, out, kUseTuple);
      pending = {};
      r.written += written;
      if (ec) {
        r.ec = ec;
        co_return r;
      }
    }
    if (last) co_return r;
  }
}

// Ends the sending direction of a stream: a TLS close_notify, or a TCP FIN.
net::awaitable<void> half_close(TlsStream& s) {
  s.expires_after(std::chrono::seconds(5));
  co_await s.async_shutdown(kUseTuple);
}
net::awaitable<void> half_close(beast::tcp_stream& s) {
  error_code ignored;
  s.socket().shutdown(tcp::socket::shutdown_send, ignored);
  co_return;
}

// When a tunnel last carried a byte, either way.
struct TunnelActivity {
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
};
// A tunnel silent both ways for this long is closed (a Plex notification socket carries
// events in one direction only, for hours: no direction alone may time it out).
constexpr std::chrono::hours kTunnelIdle{1};

// Copies bytes one way until the source closes, then passes the close on, so that the
// other direction ends when its peer answers the close (as websocket peers do).
template <class From, class To>
net::awaitable<void> pump(From& from, To& to, MetricsShard& metrics, MetricsShard::Counter& count,
                          TunnelActivity& activity) {
  std::array<char, 16 * 1024> buf;
  for (;;) {
    beast::get_lowest_layer(from).expires_never();  // the tunnel's watchdog ends silence
    auto [ec, n] = co_await from.async_read_some(net::buffer(buf), kUseTuple);
    if (n) {
      activity.last = std::chrono::steady_clock::now();
      beast::get_lowest_layer(to).expires_after(kIdleTimeout);
      auto [wec, wn] = co_await net::async_write(to, net::buffer(buf.data(), n), kUseTuple);
      metrics.add(count, wn);
      if (wec) ec = wec;
    }
    if (ec) break;
  }
  co_await half_close(to);
}

// Ends a tunnel that carried nothing either way for kTunnelIdle: both sockets are shut
// down (not closed: a TLS stream's OpenSSL still holds its descriptor), so both pumps end.
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

// `Stream` is the client's side, `Upstream` the server's: plain TCP or TLS each.
template <class Stream, class Upstream>
class Session {
 public:
  Session(Stream& stream, Worker& worker, bool tls)
      : client_(stream),
        worker_(worker),
        shared_(worker.shared),
        config_(worker.shared.config),
        metrics_(worker.metrics),
        tls_(tls),
        remote_(remote_address(beast::get_lowest_layer(stream).socket())),
        body_deadline_(worker.ioc.get_executor()),
        watch_parked_(worker.ioc.get_executor()) {}

  net::awaitable<void> run() {
    auto& tcp_layer = beast::get_lowest_layer(client_);
    entry_ = worker_.sessions.insert(
        worker_.sessions.end(),
        SessionEntry{&tcp_layer, [](void* s) { static_cast<decltype(&tcp_layer)>(s)->cancel(); },
                     false});
    metrics_.add(metrics_.client_connections_total);
    metrics_.client_connections.fetch_add(1, std::memory_order_relaxed);

    auto timeout = config_.header_timeout;
    for (bool keep_alive = true; keep_alive && !shared_.draining;) {
      // Idle keep-alive connections should cost little: a large read buffer goes back
      // here, between requests, never while the client watcher may be reading into it.
      if (buffer_.capacity() > 16 * 1024 && buffer_.size() == 0) buffer_.shrink_to_fit();
      RequestParser parser;
      parser.header_limit(static_cast<std::uint32_t>(config_.max_header_bytes));
      parser.body_limit(boost::none);
      tcp_layer.expires_after(timeout);
      entry_->idle = true;
      auto [ec, n] = co_await http::async_read_header(client_, buffer_, parser, kUseTuple);
      entry_->idle = false;
      timeout = config_.keepalive_timeout;
      if (ec) {
        co_await reject_bad_head(ec);
        break;
      }
      metrics_.add(metrics_.bytes_from_clients, n);
      keep_alive = co_await forward(parser);
    }
    co_await close_client();
    worker_.sessions.erase(entry_);
    metrics_.client_connections.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  using Connection = UpstreamConnection<Upstream>;
  UpstreamPool<Upstream>& pool() { return worker_.template pool<Upstream>(); }

  struct Outcome {
    unsigned status = 0;
    std::uint64_t bytes_sent = 0;
    bool keep_alive = false;
    bool complete = false;
    bool tunnel = false;  // a 101 to an upgrade: the tunnel takes the connection over
  };

  // Request body reads: the body timeout, as a soft deadline (408 can still be sent).
  struct BodyGuard {
    Session& s;
    void begin() {
      beast::get_lowest_layer(s.client_).expires_never();
      s.body_deadline_.arm(beast::get_lowest_layer(s.client_).socket(), s.config_.body_timeout);
    }
    bool end() { return s.body_deadline_.disarm(); }
  };
  // Response body reads: a long idle timeout (Beast's; it fails the read with timeout).
  struct UpstreamGuard {
    Upstream& stream;
    void begin() { beast::get_lowest_layer(stream).expires_after(kIdleTimeout); }
    bool end() { return false; }
  };

  // A head that could not be read: answer when the client deserves an answer.
  net::awaitable<void> reject_bad_head(error_code ec) {
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
    log_access("-", "-", "", status, 0, {});
  }

  // Answers one request and says whether the connection can carry another.
  net::awaitable<bool> forward(RequestParser& parser) {
    auto started = std::chrono::steady_clock::now();
    auto& req = parser.get();
    client_version_ = req.version() >= 11 ? 11 : 10;
    collect_fields(req, request_fields_);
    const RequestHeadIn head{to_sv(req.method_string()), to_sv(req.target()), req.version(),
                             request_fields_};
    RequestPlan plan = plan_request(head, shared_.upstream_host);
    if (!plan.reject && !parser_agrees(plan, parser)) {
      plan.reject = 400;
      plan.reason = "ambiguous message framing";
    }

    // What the access log needs after the head is rewritten (copied only when logging).
    std::string method, target, product;
    if (shared_.access_log.enabled()) {
      method = req.method_string();
      target = req.target();
      product =
          req["X-Plex-Product"].empty() ? req[http::field::user_agent] : req["X-Plex-Product"];
    }

    if (plan.reject) {
      // Nothing of it is forwarded, and the connection closes: what follows the head on
      // the wire could be read as a body or as another request.
      metrics_.add(metrics_.bad_requests);
      co_await send_error(plan.reject, plan.reason);
      metrics_.observe_response(plan.reject, std::chrono::steady_clock::now() - started);
      log_access(method, target, product, plan.reject, 0,
                 std::chrono::steady_clock::now() - started);
      co_return false;
    }

    std::unique_ptr<capture::Recording> recording;
    // The target as the server gets it (an absolute-form one without a path gains its "/").
    target_.assign(plan.slash ? "/" : "").append(plan.target);
    if (shared_.tap.wants(to_sv(req.method_string()), target_))
      recording = open_recording(req, target_);

    Outcome out;
    if (shared_.responder)
      out = co_await answer_locally(parser, plan);
    else
      out = co_await exchange(parser, head, plan, recording.get());
    if (recording) recording->finish(out.complete);
    if (out.status)
      metrics_.observe_response(out.status, std::chrono::steady_clock::now() - started);
    log_access(method, target, product, out.status, out.bytes_sent,
               std::chrono::steady_clock::now() - started);
    co_return out.keep_alive;
  }

  net::awaitable<Outcome> exchange(RequestParser& parser, const RequestHeadIn& head,
                                   const RequestPlan& plan, capture::Recording* recording) {
    request_head_.clear();
    write_request_head(request_head_, head, plan, remote_, tls_);
    error_code ec;
    const auto asked = std::chrono::steady_clock::now();
    std::unique_ptr<Connection> up = co_await pool().acquire(ec);
    // A request that took a while to get its connection (it waited for a place, or a new
    // connection was made) goes out only if its client is still there: nobody would read
    // the answer to a scrobble sent for a client that gave up.
    if (std::chrono::steady_clock::now() - asked > std::chrono::milliseconds(1) &&
        peer_closed(beast::get_lowest_layer(client_).socket())) {
      metrics_.add(metrics_.client_aborts);
      if (up) pool().release(std::move(up));
      co_return Outcome{};
    }
    if (ec) co_return co_await fail_connect(ec);

    const bool body_streamed = !parser.is_done();
    if (!body_streamed) {
      // No body: the head goes out as one contiguous buffer, one plain send.
      up->stream.expires_after(config_.upstream_timeout);
      auto [wec, n] = co_await net::async_write(up->stream, net::buffer(request_head_), kUseTuple);
      ec = wec;
      metrics_.add(metrics_.bytes_to_upstream, n);
    } else {
      if (plan.expects_continue) co_await write_raw("HTTP/1.1 100 Continue\r\n\r\n");
      auto relay =
          co_await relay_body(client_, buffer_, parser, up->stream, plan.body, relay_buffer(),
                              request_head_, BodyGuard{*this}, [&](std::string_view piece) {
                                metrics_.add(metrics_.bytes_from_clients, piece.size());
                                if (recording) recording->request_body(piece);
                              });
      metrics_.add(metrics_.bytes_to_upstream, relay.written);
      if (relay.source_failed) co_return co_await fail_request_body(relay);
      ec = relay.ec;
    }

    // The client has sent all of this request: from here on, watch for it leaving, so an
    // abandoned stream or long poll lets go of its server connection at once.
    using namespace net::experimental::awaitable_operators;
    watch_upstream_ = &up;
    watching_ = {true, false, false};
    Outcome out = co_await (answer(up, plan, recording, ec, body_streamed) && watch_client());
    watch_upstream_ = nullptr;
    if (out.tunnel) co_await tunnel(*up);
    co_return out;
  }

  // Reads the answer to a request that has been sent (or failed to be: `ec`) and streams
  // it to the client. Runs beside watch_client(), and stops it when done.
  net::awaitable<Outcome> answer(std::unique_ptr<Connection>& up, const RequestPlan& plan,
                                 capture::Recording* recording, error_code ec, bool body_streamed) {
    Outcome out = co_await answer_inner(up, plan, recording, ec, body_streamed);
    stop_watching();
    co_return out;
  }

  net::awaitable<Outcome> answer_inner(std::unique_ptr<Connection>& up, const RequestPlan& plan,
                                       capture::Recording* recording, error_code ec,
                                       bool body_streamed) {
    Outcome out;
    std::optional<ResponseParser> rp;
    for (int attempt = 0;; ++attempt) {
      bool answer_started = false;
      if (!ec) {
        up->stream.expires_after(config_.upstream_timeout);
        ec = co_await read_response_head(*up, rp, plan.head, answer_started);
      }
      if (!ec) break;
      if (watching_.gone) co_return out;  // the client left; nobody to answer
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

    auto& res = rp->get();
    collect_fields(res, response_fields_);
    const ResponseHeadIn head{res.result_int(), to_sv(res.reason()), res.version(),
                              response_fields_};
    ResponsePlan rplan = plan_response(
        head, ResponseContext{plan.head, plan.upgrade, client_version_, plan.keep_alive});
    if (!rplan.bad && !parser_agrees(rplan, *rp)) {
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
    if (recording) recording->response_head(response_view(head));
    rplan.keep_alive = rplan.keep_alive && !shared_.draining;
    response_head_.clear();
    write_response_head(response_head_, head, rplan, client_version_);
    if (rplan.tunnel) {
      out.tunnel = true;
      co_return out;
    }

    std::uint64_t written = 0;
    if (rp->is_done()) {
      beast::get_lowest_layer(client_).expires_after(kIdleTimeout);
      auto [wec, n] = co_await net::async_write(client_, net::buffer(response_head_), kUseTuple);
      written = n;
      if (wec) co_return out;
    } else {
      // A long body is read in 64 KiB pieces: the pooled connection's buffer grows once.
      if (!rp->content_length() || *rp->content_length() > 16 * 1024)
        up->buffer.reserve(kRelayBuffer);
      std::string_view pending = response_head_;
      if (!body_already_buffered(*up, *rp)) {
        // Send the head now: a stream (server-sent events, long poll) may wait long for
        // its body.
        beast::get_lowest_layer(client_).expires_after(kIdleTimeout);
        auto [wec, n] = co_await net::async_write(client_, net::buffer(pending), kUseTuple);
        written = n;
        if (wec) co_return out;
        pending = {};
      }
      auto relay =
          co_await relay_body(up->stream, up->buffer, *rp, client_, rplan.to_client, relay_buffer(),
                              pending, UpstreamGuard{up->stream}, [&](std::string_view piece) {
                                out.bytes_sent += piece.size();
                                if (recording) recording->response_body(piece);
                              });
      written += relay.written;
      release_relay_buffer();
      metrics_.add(metrics_.bytes_from_upstream, out.bytes_sent);
      if (relay.ec) {
        metrics_.add(metrics_.bytes_to_clients, written);
        if (relay.source_failed && !watching_.gone) metrics_.add(metrics_.upstream_errors);
        co_return out;  // mid-body: nothing to do but close both sides
      }
    }
    metrics_.add(metrics_.bytes_to_clients, written);
    out.complete = true;
    out.keep_alive = rplan.keep_alive;
    if (rplan.server_keep_alive && rp->is_done() && !watching_.gone) pool().release(std::move(up));
    co_return out;
  }

  // While an answer is awaited or streams, a read on the client side: its close (or a
  // reset) cancels the server side at once. Bytes of a next request that arrive meanwhile
  // are kept for it, up to kReadAheadLimit; after that the client is not read until the
  // answer ends.
  net::awaitable<void> watch_client() {
    while (watching_.active) {
      if (buffer_.size() >= kReadAheadLimit) {
        watch_parked_.expires_at(std::chrono::steady_clock::time_point::max());
        co_await watch_parked_.async_wait(kUseTuple);
        continue;
      }
      beast::get_lowest_layer(client_).expires_never();
      watching_.reading = true;
      auto [ec, n] = co_await client_.async_read_some(buffer_.prepare(4096), kUseTuple);
      watching_.reading = false;
      buffer_.commit(n);
      if (!watching_.active || ec == net::error::operation_aborted) break;
      if (ec) {
        watching_.gone = true;
        metrics_.add(metrics_.client_aborts);
        // Shut down, not closed: a TLS upstream's OpenSSL still holds the descriptor.
        if (watch_upstream_ && *watch_upstream_) {
          error_code ignored;
          auto& socket = (*watch_upstream_)->stream.socket();
          socket.shutdown(tcp::socket::shutdown_both, ignored);
          socket.cancel(ignored);
        }
        break;
      }
    }
    watching_.active = false;
  }

  void stop_watching() {
    watching_.active = false;
    error_code ignored;
    if (watching_.reading) beast::get_lowest_layer(client_).socket().cancel(ignored);
    watch_parked_.cancel();
  }

  // No upstream (replay serve): the responder answers from memory. A request body is
  // read and dropped, as matching uses the method, path and query alone.
  net::awaitable<Outcome> answer_locally(RequestParser& parser, const RequestPlan& plan) {
    auto& req = parser.get();
    Outcome out;
    if (!parser.is_done()) {
      if (plan.expects_continue) co_await write_raw("HTTP/1.1 100 Continue\r\n\r\n");
      char* buf = relay_buffer();
      BodyGuard guard{*this};
      while (!parser.is_done()) {
        req.body().data = buf;
        req.body().size = kRelayBuffer;
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
    auto reply = shared_.responder->respond(
        LocalRequest{to_sv(req.method_string()), target_, request_fields_});

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

  // Reads a response head, skipping interim 1xx answers (but not 101). `started` becomes
  // true once any byte of an answer has arrived.
  net::awaitable<error_code> read_response_head(Connection& up, std::optional<ResponseParser>& rp,
                                                bool head_only, bool& started) {
    for (;;) {
      rp.emplace();
      rp->header_limit(static_cast<std::uint32_t>(config_.max_header_bytes));
      rp->body_limit(boost::none);
      if (head_only) rp->skip(true);
      auto [ec, n] = co_await http::async_read_header(up.stream, up.buffer, *rp, kUseTuple);
      if (n || up.buffer.size()) started = true;
      if (ec) co_return ec;
      metrics_.add(metrics_.bytes_from_upstream, n);
      // By number: Beast's status enum maps codes it does not know (103 Early Hints,
      // 104-199) to `unknown`, which is not informational.
      const unsigned status = rp->get().result_int();
      if (status / 100 != 1 || status == 101) co_return error_code{};
    }
  }

  // True when the whole body is already in the read buffer, so head and body can leave
  // in one write (and, over TLS, one record).
  static bool body_already_buffered(Connection& up, ResponseParser& rp) {
    auto length = rp.content_length();
    return length && up.buffer.size() >= *length && *length <= kPieceRoom;
  }

  // After 101 from the server: bytes flow both ways until either side closes.
  net::awaitable<void> tunnel(Connection& up) {
    using namespace net::experimental::awaitable_operators;
    metrics_.add(metrics_.websocket_tunnels);
    beast::get_lowest_layer(client_).expires_after(kIdleTimeout);
    auto [ec, n] = co_await net::async_write(client_, net::buffer(response_head_), kUseTuple);
    if (ec) co_return;
    // Bytes that arrived together with the heads belong to the tunnel.
    if (up.buffer.size()) {
      std::tie(ec, n) = co_await net::async_write(client_, up.buffer.data(), kUseTuple);
      up.buffer.consume(up.buffer.size());
      if (ec) co_return;
    }
    if (buffer_.size()) {
      std::tie(ec, n) = co_await net::async_write(up.stream, buffer_.data(), kUseTuple);
      buffer_.consume(buffer_.size());
      if (ec) co_return;
    }
    TunnelActivity activity;
    co_await (
        (pump(client_, up.stream, metrics_, metrics_.bytes_from_clients, activity) &&
         pump(up.stream, client_, metrics_, metrics_.bytes_to_clients, activity)) ||
        tunnel_watchdog(activity, beast::get_lowest_layer(client_).socket(), up.stream.socket()));
  }

  // A request body that broke off: the client left, sent a malformed body (400), or
  // stopped sending for the body timeout (408). The upstream connection, holding a
  // partial request, is closed with the exchange.
  net::awaitable<Outcome> fail_request_body(const RelayResult& relay) {
    release_relay_buffer();
    Outcome out;
    if (relay.timed_out) {
      metrics_.add(metrics_.body_timeouts);
      std::string reason = "request body made no progress for " +
                           std::to_string(config_.body_timeout.count()) + " ms";
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

  net::awaitable<Outcome> fail_connect(error_code ec) {
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

  net::awaitable<Outcome> fail_upstream(unsigned status, const std::string& reason) {
    if (status == 502) metrics_.add(metrics_.upstream_errors);  // 504s count as timeouts
    worker_.warn_limited(reason);
    co_await send_error(status, reason);
    Outcome out;
    out.status = status;
    co_return out;  // close: the request body may still be on the wire
  }

  net::awaitable<void> send_error(unsigned status, const std::string& reason) {
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

  net::awaitable<void> write_raw(std::string_view bytes) {
    beast::get_lowest_layer(client_).expires_after(std::chrono::seconds(5));
    auto [ec, n] = co_await net::async_write(client_, net::buffer(bytes), kUseTuple);
    (void)ec;
  }

  net::awaitable<void> close_client() {
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

  std::unique_ptr<capture::Recording> open_recording(const http::request<http::buffer_body>& req,
                                                     std::string_view target) {
    capture::RequestHead head{to_sv(req.method_string()),       target, request_fields_, remote_,
                              std::chrono::system_clock::now(), tls_};
    return shared_.tap.open(head);
  }

  capture::ResponseHead response_view(const ResponseHeadIn& head) {
    return capture::ResponseHead{head.status, response_fields_};
  }

  void log_access(std::string_view method, std::string_view target, std::string_view product,
                  unsigned status, std::uint64_t bytes, std::chrono::steady_clock::duration took) {
    if (!shared_.access_log.enabled()) return;
    shared_.access_log.write(
        AccessRecord{remote_, method, target, product, status, bytes,
                     std::chrono::duration_cast<std::chrono::microseconds>(took)});
  }

  char* relay_buffer() {
    if (!relay_buffer_) relay_buffer_ = worker_.buffers.take();
    return relay_buffer_.get();
  }
  void release_relay_buffer() { worker_.buffers.give(std::move(relay_buffer_)); }

  struct Watching {
    bool active = false;
    bool gone = false;     // the client closed or reset while its answer was pending
    bool reading = false;  // a read on the client is in flight
  };

  Stream& client_;
  Worker& worker_;
  Shared& shared_;
  const Config& config_;
  MetricsShard& metrics_;
  const bool tls_;
  const std::string remote_;
  unsigned client_version_ = 11;
  beast::flat_buffer buffer_;
  BufferPool::Buffer relay_buffer_;
  std::vector<Field> request_fields_;
  std::vector<Field> response_fields_;
  std::string target_;  // the origin-form target, as the server gets it
  std::string request_head_;
  std::string response_head_;
  SoftDeadline body_deadline_;
  Watching watching_;
  net::steady_timer watch_parked_;
  std::unique_ptr<Connection>* watch_upstream_ = nullptr;
  std::list<SessionEntry>::iterator entry_;
};

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
