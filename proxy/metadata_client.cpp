#include "proxy/metadata_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "certs/client_tls.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
namespace http = boost::beast::http;
using net::ip::tcp;

struct MetadataClient::Tls {
  net::ssl::context context;
  std::string server_name;
  bool verify;
};

MetadataClient::MetadataClient(Endpoint upstream, UpstreamTlsOptions tls, std::string token,
                               std::chrono::milliseconds timeout)
    : upstream_(std::move(upstream)), token_(std::move(token)), timeout_(timeout) {
  if (upstream_.tls) {
    auto ctx = certs::make_client_context({tls.ca_file, !tls.insecure});
    tls_ = std::make_unique<Tls>(Tls{net::ssl::context(ctx.release()),
                                     tls.server_name.empty() ? upstream_.host : tls.server_name,
                                     !tls.insecure});
  }
}

MetadataClient::~MetadataClient() = default;

capture::FetchResult MetadataClient::fetch(const std::string& rating_key) {
  return get("/library/metadata/" + rating_key +
             "?includeGuids=1&includeMarkers=1&includeChapters=1");
}

capture::FetchResult MetadataClient::fetch_sessions() {
  return get("/status/sessions");
}

capture::FetchResult MetadataClient::get(const std::string& target) {
  capture::FetchResult result;
  try {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    tcp::socket socket(ioc);
    net::connect(socket, resolver.resolve(upstream_.host, std::to_string(upstream_.port)));
    // Blocking reads and writes give up after the timeout (SO_RCVTIMEO/SO_SNDTIMEO).
    timeval tv{static_cast<time_t>(timeout_.count() / 1000),
               static_cast<suseconds_t>((timeout_.count() % 1000) * 1000)};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    std::optional<net::ssl::stream<tcp::socket&>> tls;
    if (tls_) {
      tls.emplace(socket, tls_->context);
      if (!certs::prepare_client_connection(tls->native_handle(), tls_->server_name, tls_->verify))
        throw std::runtime_error("bad TLS server name " + tls_->server_name);
      tls->handshake(net::ssl::stream_base::client);
    }

    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, upstream_.host + ":" + std::to_string(upstream_.port));
    req.set(http::field::accept, "application/json");
    req.set(http::field::user_agent, "plextap");
    req.set("X-Plex-Product", "plextap");
    req.set("X-Plex-Client-Identifier", "plextap-enricher");
    if (!token_.empty()) req.set("X-Plex-Token", token_);
    req.keep_alive(false);
    boost::beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (tls) {
      http::write(*tls, req);
      http::read(*tls, buffer, parser);
    } else {
      http::write(socket, req);
      http::read(socket, buffer, parser);
    }
    result.status = parser.get().result_int();
    result.body = std::move(parser.get().body());
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
  } catch (const std::exception& e) {
    result.status = 0;
    result.error =
        std::string("cannot fetch metadata from ") + to_string(upstream_) + ": " + e.what();
  }
  return result;
}

}  // namespace plextap::proxy
