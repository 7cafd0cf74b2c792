// The outbound HTTP client in coroutine form, for many requests over kept-alive
// connections (replay send). It exposes Asio and Beast types: include it from replay/
// only; everything else uses net/http_client.hpp.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <optional>

#include "net/http_client.hpp"

namespace plextap::net {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using ResponseParser = http::response_parser<http::string_body>;
using Deadline = std::chrono::steady_clock::time_point;

// One connection to the origin, kept open between requests while the server allows it.
class Connection {
 public:
  bool open() const { return plain_ || tls_; }
  void close();

 private:
  friend class Sender;
  boost::beast::tcp_stream& lowest();
  std::optional<boost::beast::tcp_stream> plain_;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_;
  boost::beast::flat_buffer buffer_;
  bool reused_ = false;
};

class Sender {
 public:
  // Resolves the origin now. Throws std::runtime_error when it cannot be resolved or its
  // CA file cannot be read.
  Sender(boost::asio::io_context& ioc, Origin origin);

  // Sends `req` over `conn` (connecting first if it is closed) and reads the answer into
  // `parser`, all before `deadline`: connect, TLS handshake, writing, the whole answer,
  // and a second try on a fresh connection when a kept-alive one turns out closed before
  // the server read anything (never after a timeout or once an answer began: the server
  // may have acted on the request). The error is beast::error::timeout at the deadline.
  // After a keep-alive answer `conn` stays open for the next request; after an error it is
  // closed. `began` is when the try that answered began writing (after connecting).
  boost::asio::awaitable<boost::system::error_code> send(
      Connection& conn, Request& req, std::optional<ResponseParser>& parser, Deadline deadline,
      std::size_t body_limit, std::chrono::steady_clock::time_point& began);

 private:
  boost::asio::awaitable<boost::system::error_code> connect(Connection& conn, Deadline deadline);

  boost::asio::io_context& ioc_;
  Origin origin_;
  std::string server_name_;
  std::optional<boost::asio::ssl::context> tls_;
  boost::asio::ip::tcp::resolver::results_type endpoints_;
};

}  // namespace plextap::net
