#include "net/http_send.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

#include "certs/client_tls.hpp"
#include "net/use_tuple.hpp"

namespace plextap::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;

namespace {

template <class Stream>
asio::awaitable<boost::system::error_code> exchange(Stream& stream, beast::flat_buffer& buffer,
                                                    Request& req, ResponseParser& rp) {
  auto [wec, wn] = co_await http::async_write(stream, req, kUseTuple);
  if (wec) co_return wec;
  auto [rec, rn] = co_await http::async_read(stream, buffer, rp, kUseTuple);
  co_return rec;
}

}  // namespace

beast::tcp_stream& Connection::lowest() {
  return tls_ ? beast::get_lowest_layer(*tls_) : *plain_;
}

void Connection::close() {
  if (open()) {
    boost::system::error_code ignored;
    lowest().socket().close(ignored);
  }
  plain_.reset();
  tls_.reset();
  buffer_.clear();
}

Sender::Sender(asio::io_context& ioc, Origin origin)
    : ioc_(ioc),
      origin_(std::move(origin)),
      server_name_(origin_.server_name.empty() ? origin_.host : origin_.server_name) {
  if (origin_.tls)
    tls_.emplace(certs::make_client_context({origin_.ca_file, origin_.verify}).release());
  tcp::resolver resolver(ioc_);
  boost::system::error_code ec;
  endpoints_ = resolver.resolve(origin_.host, std::to_string(origin_.port), ec);
  if (ec) throw std::runtime_error("cannot resolve " + origin_.host + ": " + ec.message());
}

asio::awaitable<boost::system::error_code> Sender::connect(Connection& conn, Deadline deadline) {
  conn.close();
  conn.reused_ = false;
  boost::system::error_code ec;
  if (tls_) {
    conn.tls_.emplace(ioc_, *tls_);
    auto& lowest = beast::get_lowest_layer(*conn.tls_);
    lowest.expires_at(deadline);
    std::tie(ec, std::ignore) = co_await lowest.async_connect(endpoints_, kUseTuple);
    if (ec) co_return ec;
    if (!certs::prepare_client_connection(conn.tls_->native_handle(), server_name_, origin_.verify))
      co_return asio::error::invalid_argument;
    std::tie(ec) = co_await conn.tls_->async_handshake(asio::ssl::stream_base::client, kUseTuple);
  } else {
    conn.plain_.emplace(ioc_);
    conn.plain_->expires_at(deadline);
    std::tie(ec, std::ignore) = co_await conn.plain_->async_connect(endpoints_, kUseTuple);
  }
  co_return ec;
}

asio::awaitable<boost::system::error_code> Sender::send(
    Connection& conn, Request& req, std::optional<ResponseParser>& rp, Deadline deadline,
    std::size_t body_limit, std::chrono::steady_clock::time_point& began) {
  boost::system::error_code ec;
  // A kept-alive connection the server has closed meanwhile gets one fresh try.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!conn.open()) {
      ec = co_await connect(conn, deadline);
      if (ec) break;
    }
    began = std::chrono::steady_clock::now();
    rp.emplace();
    rp->body_limit(body_limit);
    if (req.method() == http::verb::head) rp->skip(true);
    conn.lowest().expires_at(deadline);
    if (conn.tls_)
      ec = co_await exchange(*conn.tls_, conn.buffer_, req, *rp);
    else
      ec = co_await exchange(*conn.plain_, conn.buffer_, req, *rp);
    if (!ec) break;
    // Only a kept-alive connection the server closed before reading anything is worth
    // a second try: after a timeout, or once an answer began, the server may have acted
    // on the request, and scrobbles, ratings and play queues must not happen twice.
    bool retry = conn.reused_ && !rp->got_some() &&
                 (ec == http::error::end_of_stream || ec == asio::error::eof ||
                  ec == asio::error::connection_reset || ec == asio::error::broken_pipe);
    conn.close();
    if (!retry) break;
  }
  if (ec) co_return ec;
  if (rp->get().keep_alive())
    conn.reused_ = true;
  else
    conn.close();
  co_return ec;
}

}  // namespace plextap::net
