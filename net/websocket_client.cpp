#include "net/websocket_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "certs/client_tls.hpp"
#include "net/running_call.hpp"
#include "net/use_tuple.hpp"

namespace plextap::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;

struct WebsocketClient::Tls {
  asio::ssl::context context;
  std::string server_name;
  bool verify;
};

namespace {

struct Connection {
  std::string host, port, target;
  const Fields& fields;
  asio::ssl::context* tls;  // null: plain TCP
  bool verify;
  std::string server_name;
  WebsocketTimeouts timeouts;
  const std::function<void()>& on_open;
  const std::function<void(std::string&&)>& on_text;
  WebsocketEnd& end;

  void fail(const char* what, boost::system::error_code ec) {
    if (ec == beast::error::timeout)
      end.error = std::string("timed out (") + what + ")";
    else
      end.error = std::string(what) + ": " + ec.message();
  }

  // Upgrade and read, on a stream already connected (and TLS-established).
  template <class Ws>
  asio::awaitable<void> session(Ws& ws) {
    beast::get_lowest_layer(ws).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = timeouts.connect;
    t.idle_timeout = timeouts.idle;
    t.keep_alive_pings = true;
    ws.set_option(t);
    ws.read_message_max(timeouts.max_message);
    ws.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
      for (const auto& [name, value] : fields) req.set(name, value);
    }));
    websocket::response_type res;
    auto [ec] = co_await ws.async_handshake(res, host + ":" + port, target, kUseTuple);
    if (ec) {
      if (ec == websocket::error::upgrade_declined) end.status = res.result_int();
      co_return fail("websocket upgrade", ec);
    }
    end.upgraded = true;
    on_open();
    beast::flat_buffer buffer;
    for (;;) {
      std::size_t n = 0;
      std::tie(ec, n) = co_await ws.async_read(buffer, kUseTuple);
      if (ec == websocket::error::closed) co_return;
      if (ec) co_return fail("reading", ec);
      if (ws.got_text()) on_text(beast::buffers_to_string(buffer.data()));
      buffer.consume(buffer.size());
    }
  }

  asio::awaitable<void> run() {
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    auto [ec, endpoints] = co_await resolver.async_resolve(host, port, kUseTuple);
    if (ec) co_return fail("resolving", ec);
    if (!tls) {
      websocket::stream<beast::tcp_stream> ws(executor);
      beast::get_lowest_layer(ws).expires_after(timeouts.connect);
      std::tie(ec, std::ignore) =
          co_await beast::get_lowest_layer(ws).async_connect(endpoints, kUseTuple);
      if (ec) co_return fail("connecting", ec);
      co_await session(ws);
      co_return;
    }
    websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(executor, *tls);
    auto& lowest = beast::get_lowest_layer(ws);
    lowest.expires_after(timeouts.connect);
    std::tie(ec, std::ignore) = co_await lowest.async_connect(endpoints, kUseTuple);
    if (ec) co_return fail("connecting", ec);
    if (!certs::prepare_client_connection(ws.next_layer().native_handle(), server_name, verify)) {
      end.error = "bad TLS server name " + server_name;
      co_return;
    }
    lowest.expires_after(timeouts.connect);
    std::tie(ec) =
        co_await ws.next_layer().async_handshake(asio::ssl::stream_base::client, kUseTuple);
    if (ec) co_return fail("TLS handshake", ec);
    co_await session(ws);
  }
};

}  // namespace

WebsocketClient::WebsocketClient(Origin origin, WebsocketTimeouts timeouts)
    : origin_(std::move(origin)), timeouts_(timeouts) {
  if (origin_.tls) {
    auto ctx = certs::make_client_context({origin_.ca_file, origin_.verify});
    tls_ = std::make_unique<Tls>(
        Tls{asio::ssl::context(ctx.release()),
            origin_.server_name.empty() ? origin_.host : origin_.server_name, origin_.verify});
  }
}

WebsocketClient::~WebsocketClient() = default;

void WebsocketClient::cancel() {
  calls_.cancel();
}

WebsocketEnd WebsocketClient::run(const std::string& target, const Fields& fields,
                                  const std::function<void()>& on_open,
                                  const std::function<void(std::string&&)>& on_text) {
  WebsocketEnd end;
  Connection c{origin_.host,
               std::to_string(origin_.port),
               target,
               fields,
               tls_ ? &tls_->context : nullptr,
               tls_ && tls_->verify,
               tls_ ? tls_->server_name : std::string(),
               timeouts_,
               on_open,
               on_text,
               end};
  // Only cancel() stops a connection before its coroutine ends.
  if (run_call(calls_, c.run(), end.error) != CallEnd::finished) {
    end.cancelled = true;
    end.error = "cancelled: shutting down";
  }
  return end;
}

}  // namespace plextap::net
