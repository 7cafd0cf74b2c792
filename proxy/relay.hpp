// Moving bytes between the two sides of an exchange, apart from the HTTP decisions
// around it: a message body relayed piece by piece in the proxy's own framing, the
// byte pump of an upgraded connection (websocket tunnel) with its idle watchdog, and the
// half close that passes a side's end on. Internal to proxy/: it carries Asio types.
#pragma once

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <tuple>

#include "net/use_tuple.hpp"
#include "proxy/framing.hpp"
#include "proxy/metrics.hpp"
#include "proxy/tls_stream.hpp"
#include "proxy/worker.hpp"

namespace plextap::proxy {

using ::plextap::net::kUseTuple;
inline constexpr std::size_t kRelayBuffer = BufferPool::kSize;
inline constexpr std::size_t kPieceRoom = kRelayBuffer - kChunkPrefix - kChunkSuffix;
// A response body or a write to either side that makes no progress for this long fails.
inline constexpr std::chrono::seconds kIdleTimeout{600};
// A tunnel silent both ways for this long is closed (a Plex notification socket carries
// events in one direction only, for hours: no direction alone may time it out).
inline constexpr std::chrono::hours kTunnelIdle{1};

struct RelayResult {
  boost::system::error_code ec;
  bool source_failed = false;  // else the sink (writer) failed
  bool timed_out = false;      // the source made no progress in time
  std::uint64_t written = 0;   // bytes written to the sink, framing included
};

// Moves a message body from the parser reading `src` to `dst` in `framing`: each piece is
// written as soon as it has been read, framed in place in the relay buffer. `pending` (a
// head not sent yet) leaves in the same write as the first piece. `guard` bounds each read:
// begin() before it, end() after, true when it timed out. `on_piece` sees every piece.
template <class Src, class Dst, class Parser, class Guard, class OnPiece>
boost::asio::awaitable<RelayResult> relay_body(Src& src, boost::beast::flat_buffer& src_buffer,
                                               Parser& parser, Dst& dst, Framing framing, char* buf,
                                               std::string_view pending, Guard guard,
                                               OnPiece on_piece) {
  namespace net = boost::asio;
  namespace http = boost::beast::http;
  auto& body = parser.body();
  char* piece = buf + kChunkPrefix;
  RelayResult r;
  for (;;) {
    std::size_t n = 0;
    if (!parser.is_done()) {
      body.data = piece;
      body.size = kPieceRoom;
      // Bytes read already (with the head, or after the last piece) are parsed where
      // they lie; only when they give nothing is the source read.
      boost::system::error_code ec;
      if (src_buffer.size()) {
        src_buffer.consume(parser.put(src_buffer.data(), ec));
        if (ec == http::error::need_more || ec == http::error::need_buffer) ec = {};
      }
      if (!ec && body.size == kPieceRoom && !parser.is_done()) {
        guard.begin();
        auto [rec, got] = co_await http::async_read_some(src, src_buffer, parser, kUseTuple);
        if (guard.end()) {
          r.ec = boost::beast::error::timeout;
          r.source_failed = r.timed_out = true;
          co_return r;
        }
        ec = rec == http::error::need_buffer ? boost::system::error_code{} : rec;
      }
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
      boost::beast::get_lowest_layer(dst).expires_after(kIdleTimeout);
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
boost::asio::awaitable<void> half_close(TlsStream& s);
boost::asio::awaitable<void> half_close(boost::beast::tcp_stream& s);

// When a tunnel last carried a byte, either way.
struct TunnelActivity {
  std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
};

// Copies bytes one way until the source closes, then passes the close on, so that the
// other direction ends when its peer answers the close (as websocket peers do).
template <class From, class To>
boost::asio::awaitable<void> pump(From& from, To& to, MetricsShard& metrics,
                                  MetricsShard::Counter& count, TunnelActivity& activity) {
  namespace net = boost::asio;
  std::array<char, 16 * 1024> buf;
  for (;;) {
    boost::beast::get_lowest_layer(from).expires_never();  // the tunnel's watchdog ends silence
    auto [ec, n] = co_await from.async_read_some(net::buffer(buf), kUseTuple);
    if (n) {
      activity.last = std::chrono::steady_clock::now();
      boost::beast::get_lowest_layer(to).expires_after(kIdleTimeout);
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
boost::asio::awaitable<void> tunnel_watchdog(TunnelActivity& activity,
                                             boost::asio::ip::tcp::socket& a,
                                             boost::asio::ip::tcp::socket& b);

// After a 101 to an upgrade: `head` (the 101 as the client gets it) goes to the client,
// with the bytes each side sent past the heads (in its read buffer) passed on; then bytes
// flow both ways until both directions have closed, or the tunnel was silent for
// kTunnelIdle.
template <class Client, class Upstream>
boost::asio::awaitable<void> run_tunnel(Client& client, boost::beast::flat_buffer& client_buffer,
                                        Upstream& upstream,
                                        boost::beast::flat_buffer& upstream_buffer,
                                        std::string_view head, MetricsShard& metrics) {
  namespace net = boost::asio;
  using namespace net::experimental::awaitable_operators;
  boost::beast::get_lowest_layer(client).expires_after(kIdleTimeout);
  auto [ec, n] = co_await net::async_write(client, net::buffer(head), kUseTuple);
  if (ec) co_return;
  // Bytes that arrived together with the heads belong to the tunnel.
  if (upstream_buffer.size()) {
    std::tie(ec, n) = co_await net::async_write(client, upstream_buffer.data(), kUseTuple);
    upstream_buffer.consume(upstream_buffer.size());
    if (ec) co_return;
  }
  if (client_buffer.size()) {
    std::tie(ec, n) = co_await net::async_write(upstream, client_buffer.data(), kUseTuple);
    client_buffer.consume(client_buffer.size());
    if (ec) co_return;
  }
  TunnelActivity activity;
  co_await ((pump(client, upstream, metrics, metrics.bytes_from_clients, activity) &&
             pump(upstream, client, metrics, metrics.bytes_to_clients, activity)) ||
            tunnel_watchdog(activity, boost::beast::get_lowest_layer(client).socket(),
                            upstream.socket()));
}

}  // namespace plextap::proxy
