// One client connection: read a request head, forward the request to the Plex server
// through a pooled connection, stream the response back; repeat while keep-alive holds.
// Bodies pass through a fixed 64 KiB buffer piece by piece, so memory does not grow with
// body size and never-ending responses (server-sent events) flow as they arrive.
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <optional>

#include "proxy/error_page.hpp"
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
constexpr std::chrono::seconds kIdleTimeout{600};  // body or tunnel without progress

using RequestParser = http::request_parser<http::buffer_body>;
using ResponseParser = http::response_parser<http::buffer_body>;

// Hop-by-hop headers (RFC 9110 section 7.6.1) are the proxy's business, not the peer's.
// Transfer-Encoding stays: bodies are forwarded with the framing they came with.
template <class Fields>
void strip_hop_by_hop(Fields& fields, bool keep_upgrade) {
  for (auto token : http::token_list{fields[http::field::connection]}) {
    if (keep_upgrade && beast::iequals(token, "upgrade")) continue;
    fields.erase(token);
  }
  fields.erase(http::field::connection);
  fields.erase(http::field::keep_alive);
  fields.erase("Proxy-Connection");
  fields.erase(http::field::te);
  fields.erase(http::field::trailer);
  fields.erase(http::field::proxy_authorization);
  fields.erase(http::field::proxy_authenticate);
  if (!keep_upgrade) fields.erase(http::field::upgrade);
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

struct RelayResult {
  error_code ec;
  bool source_failed = false;  // else the sink (writer) failed
  std::uint64_t written = 0;   // bytes written to the sink, framing included
};

// Moves a message body from `src` to `dst`: each piece is written as soon as it has been
// read. The serializer's message is the parser's, so the head goes out first if it has
// not already. `on_piece` sees every body piece (for the tap and for counting).
template <class Src, class Dst, class Parser, class Serializer, class OnPiece>
net::awaitable<RelayResult> relay_body(Src& src, beast::flat_buffer& src_buffer, Parser& parser,
                                       Dst& dst, Serializer& serializer, char* buf,
                                       OnPiece on_piece) {
  auto& body = parser.get().body();
  std::uint64_t written = 0;
  for (;;) {
    if (!parser.is_done()) {
      body.data = buf;
      body.size = kRelayBuffer;
      beast::get_lowest_layer(src).expires_after(kIdleTimeout);
      auto [ec, n] = co_await http::async_read_some(src, src_buffer, parser, kUseTuple);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return RelayResult{ec, true, written};
      body.size = kRelayBuffer - body.size;
      // No bytes (the read only got through a chunk header): hand the serializer no buffer
      // at all, or it would write a zero-size chunk, which ends a chunked body.
      body.data = body.size ? buf : nullptr;
      body.more = !parser.is_done();
      if (body.size) on_piece(std::string_view(buf, body.size));
    } else {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
    }
    beast::get_lowest_layer(dst).expires_after(kIdleTimeout);
    auto [ec, n] = co_await http::async_write(dst, serializer, kUseTuple);
    written += n;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return RelayResult{ec, false, written};
    if (serializer.is_done()) co_return RelayResult{{}, false, written};
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

// Copies bytes one way until the source closes, then passes the close on, so that the
// other direction ends when its peer answers the close (as websocket peers do).
template <class From, class To>
net::awaitable<void> pump(From& from, To& to, MetricsShard& metrics, MetricsShard::Counter& count) {
  std::array<char, 16 * 1024> buf;
  for (;;) {
    beast::get_lowest_layer(from).expires_after(kIdleTimeout);
    auto [ec, n] = co_await from.async_read_some(net::buffer(buf), kUseTuple);
    if (n) {
      beast::get_lowest_layer(to).expires_after(kIdleTimeout);
      auto [wec, wn] = co_await net::async_write(to, net::buffer(buf.data(), n), kUseTuple);
      metrics.add(count, wn);
      if (wec) ec = wec;
    }
    if (ec) break;
  }
  co_await half_close(to);
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
        remote_(remote_address(beast::get_lowest_layer(stream).socket())) {}

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
    const bool client_keep_alive = req.keep_alive();
    const bool upgrade = beast::websocket::is_upgrade(req);

    std::unique_ptr<capture::Recording> recording;
    if (shared_.tap.wants(to_sv(req.method_string()), to_sv(req.target())))
      recording = open_recording(req);

    // Copies of what the access log and error paths need after the head is rewritten.
    // What the access log needs after the head is rewritten (copied only when logging).
    std::string method, target, product;
    if (shared_.access_log.enabled()) {
      method = req.method_string();
      target = req.target();
      product =
          req["X-Plex-Product"].empty() ? req[http::field::user_agent] : req["X-Plex-Product"];
    }

    const bool expects_continue = beast::iequals(req[http::field::expect], "100-continue");
    Outcome out;
    if (shared_.responder) {
      out = co_await answer_locally(parser, expects_continue, client_keep_alive);
    } else {
      rewrite_request_head(req, upgrade);
      out =
          co_await exchange(parser, upgrade, expects_continue, client_keep_alive, recording.get());
    }
    if (recording) recording->finish(out.complete);
    if (out.status)
      metrics_.observe_response(out.status, std::chrono::steady_clock::now() - started);
    log_access(method, target, product, out.status, out.bytes_sent,
               std::chrono::steady_clock::now() - started);
    co_return out.keep_alive;
  }

  struct Outcome {
    unsigned status = 0;
    std::uint64_t bytes_sent = 0;
    bool keep_alive = false;
    bool complete = false;
  };

  void rewrite_request_head(http::request<http::buffer_body>& req, bool upgrade) {
    strip_hop_by_hop(req, upgrade);
    req.erase(http::field::expect);  // the proxy answers 100-continue itself
    req.version(11);
    if (upgrade) req.set(http::field::connection, "Upgrade");
    auto xff = req["X-Forwarded-For"];
    req.set("X-Forwarded-For", xff.empty() ? remote_ : std::string(xff) + ", " + remote_);
    req.set("X-Forwarded-Proto", tls_ ? "https" : "http");
    if (auto host = req[http::field::host]; !host.empty())
      req.set("X-Forwarded-Host", host);
    else  // HTTP/1.0 clients may omit Host; the server speaks 1.1 with us and needs one
      req.set(http::field::host, shared_.upstream_host);
  }

  net::awaitable<Outcome> exchange(RequestParser& parser, bool upgrade, bool expects_continue,
                                   bool client_keep_alive, capture::Recording* recording) {
    auto& req = parser.get();
    const bool head_only = req.method() == http::verb::head;
    Outcome out;
    std::unique_ptr<Connection> up;
    std::optional<ResponseParser> rp;
    error_code ec;

    // A pooled connection may have been closed by the server just now: while nothing
    // of the body has gone out, try once more on a fresh connection.
    for (int attempt = 0;; ++attempt) {
      // (No co_await inside ?: — GCC 12 miscompiles it.)
      if (attempt == 0)
        up = co_await pool().acquire(ec);
      else
        up = co_await pool().connect(ec);
      if (ec) {
        std::string reason = "cannot connect to upstream " + shared_.upstream_name + ": " +
                             (is_tls_error(ec) ? "TLS handshake failed: " : "") + ec.message();
        co_return co_await fail_upstream(502, reason);
      }
      up->stream.expires_after(config_.upstream_timeout);
      http::request_serializer<http::buffer_body> sr{req};
      bool body_sent = false;
      if (parser.is_done() && !req.chunked()) {
        // No body: the head goes out as one contiguous buffer, one plain send instead of
        // a gather of four pieces per header field.
        std::string& head = serialize_head(req);
        auto [wec, n] = co_await net::async_write(up->stream, net::buffer(head), kUseTuple);
        ec = wec;
        metrics_.add(metrics_.bytes_to_upstream, n);
      } else if (parser.is_done()) {
        req.body().data = nullptr;
        req.body().size = 0;
        req.body().more = false;
        auto [wec, n] = co_await http::async_write(up->stream, sr, kUseTuple);
        ec = wec;
        metrics_.add(metrics_.bytes_to_upstream, n);
      } else {
        auto [wec, n] = co_await http::async_write_header(up->stream, sr, kUseTuple);
        ec = wec;
        if (!ec) {
          body_sent = true;
          if (expects_continue) co_await write_raw("HTTP/1.1 100 Continue\r\n\r\n");
          auto relay =
              co_await relay_body(client_, buffer_, parser, up->stream, sr, relay_buffer(),
                                  [&](std::string_view piece) {
                                    metrics_.add(metrics_.bytes_from_clients, piece.size());
                                    if (recording) recording->request_body(piece);
                                  });
          metrics_.add(metrics_.bytes_to_upstream, n + relay.written);
          if (relay.ec && relay.source_failed) {
            metrics_.add(metrics_.bad_requests);
            if (relay.ec == beast::error::timeout || relay.ec == http::error::partial_message ||
                relay.ec == net::error::eof || relay.ec == net::error::connection_reset)
              co_return out;  // the client went away
            std::string reason = "malformed request body: " + relay.ec.message();
            co_await send_error(400, reason);
            out.status = 400;
            co_return out;
          }
          ec = relay.ec;
        }
      }
      if (!ec) {
        up->stream.expires_after(config_.upstream_timeout);
        ec = co_await read_response_head(*up, rp, head_only);
      }
      if (!ec) break;
      if (ec == beast::error::timeout) {
        metrics_.add(metrics_.upstream_timeouts);
        std::string reason = "upstream " + shared_.upstream_name + " did not answer in time";
        co_return co_await fail_upstream(504, reason);
      }
      if (attempt == 0 && up->reused && !body_sent) continue;
      std::string reason = "upstream " + shared_.upstream_name + " failed: " + ec.message();
      co_return co_await fail_upstream(502, reason);
    }

    auto& res = rp->get();
    out.status = res.result_int();
    if (upgrade && res.result() == http::status::switching_protocols) {
      co_await tunnel(*up, *rp);
      co_return out;  // the connection is the tunnel's; it is gone now
    }
    if (recording) recording->response_head(response_view(res));

    const bool upstream_keep_alive = res.keep_alive();
    strip_hop_by_hop(res, false);
    res.version(11);  // the proxy speaks HTTP/1.1 to its clients, whatever the server speaks
    // A body that ends when the server closes can't be framed that way for a
    // keep-alive client: re-frame it as chunked (HTTP/1.1) or close after it (HTTP/1.0).
    bool delimited_by_close = !rp->is_done() && !res.chunked() && !res.has_content_length();
    bool keep_alive = client_keep_alive && !shared_.draining;
    if (req.version() < 11 && res.chunked()) {
      res.chunked(false);
      keep_alive = false;
    } else if (delimited_by_close) {
      if (req.version() >= 11)
        res.chunked(true);
      else
        keep_alive = false;
    }
    res.keep_alive(keep_alive);

    // A long body is read in 64 KiB pieces: the pooled connection's buffer grows once.
    if (!rp->is_done() && (!rp->content_length() || *rp->content_length() > 16 * 1024))
      up->buffer.reserve(kRelayBuffer);
    std::uint64_t head_bytes = 0;
    http::response_serializer<http::buffer_body> sr{res};
    if (!rp->is_done() && !body_already_buffered(*up, *rp)) {
      // Send the head now: a stream (server-sent events, long poll) may wait long for its body.
      beast::get_lowest_layer(client_).expires_after(kIdleTimeout);
      auto [wec, n] = co_await http::async_write_header(client_, sr, kUseTuple);
      head_bytes = n;
      if (wec) co_return out;
    }
    auto relay = co_await relay_body(up->stream, up->buffer, *rp, client_, sr, relay_buffer(),
                                     [&](std::string_view piece) {
                                       out.bytes_sent += piece.size();
                                       if (recording) recording->response_body(piece);
                                     });
    metrics_.add(metrics_.bytes_to_clients, head_bytes + relay.written);
    release_relay_buffer();
    metrics_.add(metrics_.bytes_from_upstream, out.bytes_sent);
    if (relay.ec) {
      if (relay.source_failed) metrics_.add(metrics_.upstream_errors);
      co_return out;  // mid-body: nothing to do but close both sides
    }
    out.complete = true;
    out.keep_alive = keep_alive;
    if (upstream_keep_alive && rp->is_done()) pool().release(std::move(up));
    co_return out;
  }

  // No upstream (replay serve): the responder answers from memory. A request body is
  // read and dropped, as matching uses the method, path and query alone.
  net::awaitable<Outcome> answer_locally(RequestParser& parser, bool expects_continue,
                                         bool client_keep_alive) {
    auto& req = parser.get();
    Outcome out;
    if (!parser.is_done()) {
      if (expects_continue) co_await write_raw("HTTP/1.1 100 Continue\r\n\r\n");
      char* buf = relay_buffer();
      while (!parser.is_done()) {
        req.body().data = buf;
        req.body().size = kRelayBuffer;
        beast::get_lowest_layer(client_).expires_after(kIdleTimeout);
        auto [ec, n] = co_await http::async_read_some(client_, buffer_, parser, kUseTuple);
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
          release_relay_buffer();
          metrics_.add(metrics_.bad_requests);
          if (ec == beast::error::timeout || ec == http::error::partial_message ||
              ec == net::error::eof || ec == net::error::connection_reset)
            co_return out;  // the client went away
          std::string reason = "malformed request body: " + ec.message();
          co_await send_error(400, reason);
          out.status = 400;
          co_return out;
        }
        metrics_.add(metrics_.bytes_from_clients, n);
      }
      release_relay_buffer();
    }
    request_headers_.clear();
    for (const auto& f : req)
      request_headers_.push_back({to_sv(f.name_string()), to_sv(f.value())});
    auto reply = shared_.responder->respond(
        LocalRequest{to_sv(req.method_string()), to_sv(req.target()), request_headers_});

    const bool keep_alive = client_keep_alive && !shared_.draining;
    const bool bodyless = req.method() == http::verb::head || reply->status == 204 ||
                          reply->status == 304 || reply->status < 200;
    std::string& framing = head_;
    framing.clear();
    // 204 and 1xx have no length; a 304's would claim the length of the resource.
    if (!(reply->status == 204 || reply->status == 304 || reply->status < 200 ||
          reply->head_has_length))
      framing.append("Content-Length: ").append(std::to_string(reply->body.size())).append("\r\n");
    if (!keep_alive)
      framing.append("Connection: close\r\n");
    else if (req.version() < 11)
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

  // Reads a response head, skipping interim 1xx answers (but not 101).
  net::awaitable<error_code> read_response_head(Connection& up, std::optional<ResponseParser>& rp,
                                                bool head_only) {
    for (;;) {
      rp.emplace();
      rp->header_limit(static_cast<std::uint32_t>(config_.max_header_bytes));
      rp->body_limit(boost::none);
      if (head_only) rp->skip(true);
      auto [ec, n] = co_await http::async_read_header(up.stream, up.buffer, *rp, kUseTuple);
      if (ec) co_return ec;
      metrics_.add(metrics_.bytes_from_upstream, n);
      auto status = rp->get().result();
      if (http::to_status_class(status) != http::status_class::informational ||
          status == http::status::switching_protocols)
        co_return error_code{};
    }
  }

  // True when the whole body is already in the read buffer, so head and body can leave
  // in one write (and, over TLS, one record).
  static bool body_already_buffered(Connection& up, ResponseParser& rp) {
    auto length = rp.content_length();
    return length && up.buffer.size() >= *length;
  }

  // After 101 from the server: bytes flow both ways until either side closes.
  net::awaitable<void> tunnel(Connection& up, ResponseParser& rp) {
    using namespace net::experimental::awaitable_operators;
    metrics_.add(metrics_.websocket_tunnels);
    auto& res = rp.get();
    http::response_serializer<http::buffer_body> sr{res};
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    auto [ec, n] = co_await http::async_write_header(client_, sr, kUseTuple);
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
    co_await (pump(client_, up.stream, metrics_, metrics_.bytes_from_clients) &&
              pump(up.stream, client_, metrics_, metrics_.bytes_to_clients));
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
    res.body() = error_page(status, reason);
    res.keep_alive(false);
    res.prepare_payload();
    beast::get_lowest_layer(client_).expires_after(std::chrono::seconds(5));
    auto [ec, n] = co_await http::async_write(client_, res, kUseTuple);
    metrics_.add(metrics_.bytes_to_clients, n);
  }

  net::awaitable<void> write_raw(std::string_view bytes) {
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

  std::unique_ptr<capture::Recording> open_recording(const http::request<http::buffer_body>& req) {
    std::vector<capture::Header> headers;
    for (const auto& f : req) headers.push_back({to_sv(f.name_string()), to_sv(f.value())});
    capture::RequestHead head{to_sv(req.method_string()),
                              to_sv(req.target()),
                              headers,
                              remote_,
                              std::chrono::system_clock::now(),
                              tls_};
    return shared_.tap.open(head);
  }

  capture::ResponseHead response_view(const http::response<http::buffer_body>& res) {
    response_headers_.clear();
    for (const auto& f : res)
      response_headers_.push_back({to_sv(f.name_string()), to_sv(f.value())});
    return capture::ResponseHead{res.result_int(), response_headers_};
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
  // Idle keep-alive connections should cost little: give large buffers back.
  void release_relay_buffer() {
    worker_.buffers.give(std::move(relay_buffer_));
    if (buffer_.capacity() > 16 * 1024 && buffer_.size() == 0) buffer_.shrink_to_fit();
  }

  static std::string_view to_sv(beast::string_view s) { return {s.data(), s.size()}; }

  // The request line and fields as HTTP/1.1 text, in a buffer kept across requests.
  std::string& serialize_head(const http::request<http::buffer_body>& req) {
    head_.clear();
    head_.append(req.method_string()).append(" ").append(req.target()).append(" HTTP/1.1\r\n");
    for (const auto& f : req)
      head_.append(f.name_string()).append(": ").append(f.value()).append("\r\n");
    head_.append("\r\n");
    return head_;
  }

  Stream& client_;
  Worker& worker_;
  Shared& shared_;
  const Config& config_;
  MetricsShard& metrics_;
  const bool tls_;
  const std::string remote_;
  beast::flat_buffer buffer_;
  BufferPool::Buffer relay_buffer_;
  std::vector<capture::Header> response_headers_;
  std::vector<capture::Header> request_headers_;
  std::string head_;
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
