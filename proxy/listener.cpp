// Binding the client listeners and their accept loops.
#include "proxy/listener.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>
#include <string>

#include "net/use_tuple.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
using net::ip::tcp;

namespace {

using ::plextap::net::kUseTuple;

net::awaitable<void> accept_loop(tcp::acceptor& acceptor, Worker& worker, bool tls) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kUseTuple);
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      worker.warn_limited("accept failed: " + ec.message());
      // Out of file descriptors: wait a little instead of spinning.
      net::steady_timer pause(worker.ioc, std::chrono::milliseconds(50));
      co_await pause.async_wait(kUseTuple);
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (tls)
      net::co_spawn(worker.ioc, serve_tls(std::move(socket), worker), net::detached);
    else
      net::co_spawn(worker.ioc, serve_plain(std::move(socket), worker), net::detached);
  }
}

}  // namespace

void Listener::bind(const Endpoint& endpoint) {
  // One acceptor per thread on the same port (SO_REUSEPORT): the kernel spreads new
  // connections over the threads, and a connection stays on the thread that accepted it.
  tcp::resolver resolver(workers_.front().ioc);
  auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service);
  tcp::endpoint bound = results.begin()->endpoint();
  for (auto& worker : workers_) {
    auto acceptor = std::make_unique<tcp::acceptor>(worker.ioc);
    boost::system::error_code ec;
    acceptor->open(bound.protocol(), ec);
    if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      acceptor->bind(bound, ec);
    }
    if (!ec) acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec)
      throw std::runtime_error("cannot listen on " + to_string(endpoint) + ": " + ec.message());
    bound = acceptor->local_endpoint();  // port 0: the rest share the port the first got
    net::co_spawn(worker.ioc, accept_loop(*acceptor, worker, endpoint.tls), net::detached);
    acceptors_.push_back(std::move(acceptor));
  }
  Endpoint actual = endpoint;
  actual.port = bound.port();
  spdlog::info("listening on {}", to_string(actual));
}

void Listener::stop() {
  for (auto& acceptor : acceptors_)
    net::post(acceptor->get_executor(), [&a = *acceptor] {
      boost::system::error_code e;
      a.close(e);
    });
}

}  // namespace plextap::proxy
