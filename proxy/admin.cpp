// The admin listener and its HTTP/1.1 connections.
#include "proxy/admin.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <stdexcept>

#include "net/use_tuple.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

namespace {
using ::plextap::net::kUseTuple;
}  // namespace

Admin::Admin(Worker& worker, const Shared& shared, MetricsSource own,
             std::vector<MetricsSource> sources)
    : worker_(worker), shared_(shared), own_(std::move(own)), sources_(std::move(sources)) {}

void Admin::start(const Endpoint& address) {
  acceptor_ = std::make_unique<tcp::acceptor>(worker_.ioc);
  tcp::resolver resolver(worker_.ioc);
  boost::system::error_code ec;
  auto results =
      resolver.resolve(address.host, std::to_string(address.port), tcp::resolver::passive, ec);
  if (!ec) {
    acceptor_->open(results.begin()->endpoint().protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(results.begin()->endpoint(), ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec)
    throw std::runtime_error("cannot listen on admin address " + address.host + ":" +
                             std::to_string(address.port) + ": " + ec.message());
  spdlog::info("admin on http://{}:{}", address.host, acceptor_->local_endpoint().port());
  net::co_spawn(worker_.ioc, accept_loop(), net::detached);
}

void Admin::stop() {
  boost::system::error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
}

std::string Admin::metrics_text() const {
  std::string text = own_();
  for (const auto& source : sources_) text += source();
  return text;
}

net::awaitable<void> Admin::accept_loop() {
  // Only closing the listener (shutdown) ends this loop: any other failure is logged and
  // the loop goes on after a pause, as the client listeners' do.
  auto on_session_end = [this](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& error) {
      worker_.warn_limited(std::string("admin request failed: ") + error.what());
    } catch (...) {
      worker_.warn_limited("admin request failed");
    }
  };
  for (;;) {
    bool pause = false;
    try {
      auto [ec, socket] = co_await acceptor_->async_accept(kUseTuple);
      if (ec == net::error::operation_aborted || !acceptor_->is_open()) co_return;
      if (ec) {
        // Out of file descriptors the listener stays readable and an immediate retry fails
        // again: wait a little instead of spinning.
        worker_.warn_limited("admin accept failed: " + ec.message());
        pause = true;
      } else {
        net::co_spawn(worker_.ioc, serve(std::move(socket)), on_session_end);
      }
    } catch (const std::exception& e) {
      worker_.warn_limited(std::string("admin listener: ") + e.what());
      pause = true;
    }
    if (pause) {
      net::steady_timer timer(worker_.ioc, std::chrono::milliseconds(50));
      co_await timer.async_wait(kUseTuple);
    }
  }
}

net::awaitable<void> Admin::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buffer, req, kUseTuple);
    if (ec) break;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "plextap");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    auto path = req.target().substr(0, req.target().find('?'));
    if (path == "/metrics") {
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = metrics_text();
    } else if (path == "/healthz") {
      res.body() = "ok\n";
    } else if (path == "/readyz") {
      if (shared_.draining) {
        res.result(http::status::service_unavailable);
        res.body() = "draining\n";
      } else if (!shared_.tap.healthy()) {
        res.result(http::status::service_unavailable);
        res.body() = "degraded: recording is failing, forwarding continues\n";
      } else {
        res.body() = "ready\n";
      }
    } else {
      res.result(http::status::not_found);
      res.body() = "not found; try /metrics, /healthz or /readyz\n";
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    std::tie(ec, n) = co_await http::async_write(stream, res, kUseTuple);
    if (ec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace plextap::proxy
