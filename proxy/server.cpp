#include "proxy/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <ctime>
#include <deque>
#include <thread>

#include "certs/certificate_info.hpp"
#include "certs/client_tls.hpp"
#include "certs/server_tls.hpp"
#include "proxy/worker.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

namespace {
constexpr auto kUseTuple = net::as_tuple(net::use_awaitable);
constexpr std::chrono::hours kExpiryWarning{24 * 30};

// A certificate about to expire is found out by clients that stop connecting; a line
// in the log at start and on every reload says so first.
void warn_if_expiring(const std::string& file, const certs::CertificateInfo& info) {
  auto left = info.not_after - std::chrono::system_clock::now();
  auto days = std::chrono::duration_cast<std::chrono::hours>(left).count() / 24;
  if (left <= std::chrono::seconds(0))
    spdlog::warn("TLS certificate {} ({}) has expired: not after {}; clients will refuse it", file,
                 info.subject, certs::format_utc(info.not_after));
  else if (left < kExpiryWarning)
    spdlog::warn("TLS certificate {} ({}) expires in {} days, on {}", file, info.subject, days,
                 certs::format_utc(info.not_after));
}
}  // namespace

Worker::Worker(unsigned i, Shared& s, MetricsShard& m) : index(i), shared(s), metrics(m) {
  plain_pool_ = std::make_unique<UpstreamPool<beast::tcp_stream>>(
      ioc.get_executor(), s.upstream_endpoints, s.config.connect_timeout,
      s.config.upstream_idle_timeout, s.upstream_limit, m, s.upstream_tls);
  tls_pool_ = std::make_unique<UpstreamPool<TlsStream>>(
      ioc.get_executor(), s.upstream_endpoints, s.config.connect_timeout,
      s.config.upstream_idle_timeout, s.upstream_limit, m, s.upstream_tls);
}

Worker::~Worker() {
  // Pooled connections go before the io_context they were made on.
  plain_pool_->close_all();
  tls_pool_->close_all();
}

void Worker::drain() {
  for (auto& entry : sessions)
    if (entry.idle) entry.cancel(entry.stream);
  plain_pool_->close_all();
  tls_pool_->close_all();
}

void Worker::sweep() {
  plain_pool_->sweep();
  tls_pool_->sweep();
}

void Worker::warn_limited(const std::string& message) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_warning_ < std::chrono::seconds(1)) {
    ++suppressed_warnings_;
    return;
  }
  last_warning_ = now;
  if (suppressed_warnings_)
    spdlog::warn("{} ({} similar warnings held back)", message, suppressed_warnings_);
  else
    spdlog::warn("{}", message);
  suppressed_warnings_ = 0;
}

struct Server::Impl {
  Impl(const Config& c, capture::Tap& tap, Responder* responder)
      : config(c),
        access_log(c.access_log, c.json_logs),
        shared(config, tap, access_log),
        metrics(thread_count()) {
    shared.responder = responder;
  }

  unsigned thread_count() const {
    return config.threads ? config.threads : std::max(1u, std::thread::hardware_concurrency());
  }

  Config config;
  AccessLog access_log;
  Shared shared;
  Metrics metrics;
  std::deque<Worker> workers;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // each owned by one worker
  std::unique_ptr<tcp::acceptor> admin;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  std::vector<std::function<std::string()>> extra_metrics;

  void start();
  void load_tls();
  std::string tls_file() const;
  void bind_listener(const Endpoint& endpoint);
  net::awaitable<void> accept_loop(tcp::acceptor& acceptor, Worker& worker, bool tls);
  net::awaitable<void> admin_loop();
  net::awaitable<void> admin_session(tcp::socket socket);
  net::awaitable<void> sweep_loop(Worker& worker);
  net::awaitable<void> signal_loop();
  net::awaitable<void> drain();
};

// Reads the certificate files again (start and SIGHUP): new handshakes use the new
// context, open connections keep the one they started with. Throws, leaving the current
// context in place, when the files are not usable.
void Server::Impl::load_tls() {
  auto credentials = certs::load_credentials(
      {config.tls_cert, config.tls_key, config.tls_p12, config.tls_p12_password});
  auto ctx = certs::make_server_context(credentials);
  auto info = certs::describe(credentials.cert.get());
  shared.set_tls_context(std::shared_ptr<SSL_CTX>(ctx.release(), SSL_CTX_free));
  shared.tls_not_after = std::chrono::system_clock::to_time_t(info.not_after);
  warn_if_expiring(tls_file(), info);
}

std::string Server::Impl::tls_file() const {
  return (config.tls_p12.empty() ? config.tls_cert : config.tls_p12).string();
}

void Server::Impl::bind_listener(const Endpoint& endpoint) {
  // One acceptor per thread on the same port (SO_REUSEPORT): the kernel spreads new
  // connections over the threads, and a connection stays on the thread that accepted it.
  tcp::resolver resolver(workers.front().ioc);
  auto results = resolver.resolve(endpoint.host, std::to_string(endpoint.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service);
  tcp::endpoint bound = results.begin()->endpoint();
  for (auto& worker : workers) {
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
    acceptors.push_back(std::move(acceptor));
  }
  Endpoint actual = endpoint;
  actual.port = bound.port();
  spdlog::info("listening on {}", to_string(actual));
}

net::awaitable<void> Server::Impl::accept_loop(tcp::acceptor& acceptor, Worker& worker, bool tls) {
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

net::awaitable<void> Server::Impl::admin_loop() {
  Worker& worker = workers.front();
  // Only closing the listener (shutdown) ends this loop: any other failure is logged and
  // the loop goes on after a pause, as accept_loop does.
  auto on_session_end = [&worker](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& error) {
      worker.warn_limited(std::string("admin request failed: ") + error.what());
    } catch (...) {
      worker.warn_limited("admin request failed");
    }
  };
  for (;;) {
    bool pause = false;
    try {
      auto [ec, socket] = co_await admin->async_accept(kUseTuple);
      if (ec == net::error::operation_aborted || !admin->is_open()) co_return;
      if (ec) {
        // Out of file descriptors the listener stays readable and an immediate retry fails
        // again: wait a little instead of spinning.
        worker.warn_limited("admin accept failed: " + ec.message());
        pause = true;
      } else {
        net::co_spawn(worker.ioc, admin_session(std::move(socket)), on_session_end);
      }
    } catch (const std::exception& e) {
      worker.warn_limited(std::string("admin listener: ") + e.what());
      pause = true;
    }
    if (pause) {
      net::steady_timer timer(worker.ioc, std::chrono::milliseconds(50));
      co_await timer.async_wait(kUseTuple);
    }
  }
}

net::awaitable<void> Server::Impl::admin_session(tcp::socket socket) {
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
      res.body() = metrics.render();
      res.body() +=
          "# HELP plextap_recording_healthy 1 when recording works, 0 when degraded.\n"
          "# TYPE plextap_recording_healthy gauge\nplextap_recording_healthy ";
      res.body() += shared.tap.healthy() ? "1\n" : "0\n";
      if (auto not_after = shared.tls_not_after.load(); not_after != 0) {
        res.body() +=
            "# HELP plextap_tls_certificate_expiry_seconds Seconds until the served TLS "
            "certificate expires (negative once it has).\n"
            "# TYPE plextap_tls_certificate_expiry_seconds gauge\n"
            "plextap_tls_certificate_expiry_seconds ";
        res.body() += std::to_string(not_after - std::time(nullptr)) + "\n";
      }
      res.body() += shared.tap.metrics_text();
      if (shared.responder) res.body() += shared.responder->metrics_text();
      for (const auto& source : extra_metrics) res.body() += source();
    } else if (path == "/healthz") {
      res.body() = "ok\n";
    } else if (path == "/readyz") {
      if (shared.draining) {
        res.result(http::status::service_unavailable);
        res.body() = "draining\n";
      } else if (!shared.tap.healthy()) {
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

net::awaitable<void> Server::Impl::sweep_loop(Worker& worker) {
  net::steady_timer timer(worker.ioc);
  while (!shared.draining) {
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(kUseTuple);
    worker.sweep();
  }
}

net::awaitable<void> Server::Impl::signal_loop() {
  net::signal_set signals(workers.front().ioc, SIGTERM, SIGINT, SIGHUP);
  for (;;) {
    auto [ec, signo] = co_await signals.async_wait(kUseTuple);
    if (ec) co_return;
    if (signo != SIGHUP) break;
    if (!shared.tls_context()) {
      spdlog::info("SIGHUP: no https listener, no certificate to reload");
      continue;
    }
    try {
      load_tls();
      spdlog::info("reloaded TLS certificate {}", tls_file());
    } catch (const std::exception& e) {
      spdlog::error("TLS reload refused, keeping the current certificate: {}", e.what());
    }
  }
  co_await drain();
}

net::awaitable<void> Server::Impl::drain() {
  spdlog::info("shutting down: no new connections, waiting for requests in flight");
  shared.draining = true;
  boost::system::error_code ignored;
  if (admin) admin->close(ignored);
  for (auto& acceptor : acceptors)
    net::post(acceptor->get_executor(), [&a = *acceptor] {
      boost::system::error_code e;
      a.close(e);
    });
  for (auto& worker : workers) net::post(worker.ioc, [&worker] { worker.drain(); });

  auto deadline = std::chrono::steady_clock::now() + config.drain_timeout;
  net::steady_timer timer(workers.front().ioc);
  auto open_connections = [&] {
    std::int64_t n = 0;
    for (auto& w : workers) n += w.metrics.client_connections.load();
    return n;
  };
  while (open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(kUseTuple);
  }
  if (auto left = open_connections(); left > 0)
    spdlog::warn("drain timeout: closing {} connections still open", left);
  guards.clear();
  for (auto& worker : workers) worker.ioc.stop();
}

void Server::Impl::start() {
  net::io_context resolver_context;
  tcp::resolver resolver(resolver_context);
  boost::system::error_code ec;
  if (!shared.responder) {
    auto results = resolver.resolve(config.upstream.host, std::to_string(config.upstream.port), ec);
    if (ec)
      throw std::runtime_error("cannot resolve upstream " + to_string(config.upstream) + ": " +
                               ec.message());
    for (const auto& r : results) shared.upstream_endpoints.push_back(r.endpoint());
    shared.upstream_name = to_string(config.upstream);
    shared.upstream_host = shared.upstream_name.substr(shared.upstream_name.find("//") + 2);
    if (config.upstream.tls) {
      const auto& t = config.upstream_tls;
      auto ctx = certs::make_client_context({t.ca_file, !t.insecure});
      shared.upstream_tls.context = std::shared_ptr<SSL_CTX>(ctx.release(), SSL_CTX_free);
      shared.upstream_tls.server_name =
          t.server_name.empty() ? config.upstream.host : t.server_name;
      shared.upstream_tls.verify = !t.insecure;
      if (t.insecure)
        spdlog::warn(
            "the upstream's TLS certificate is not verified (--upstream-insecure): anyone between "
            "here and {} can read and change the traffic",
            shared.upstream_name);
    }
  }
  for (unsigned i = 0; i < thread_count(); ++i) workers.emplace_back(i, shared, metrics.shard(i));

  bool any_tls = std::any_of(config.listen.begin(), config.listen.end(),
                             [](const Endpoint& e) { return e.tls; });
  if (any_tls) load_tls();
  for (const auto& endpoint : config.listen) bind_listener(endpoint);

  admin = std::make_unique<tcp::acceptor>(workers.front().ioc);
  auto admin_results = resolver.resolve(config.admin.host, std::to_string(config.admin.port),
                                        tcp::resolver::passive, ec);
  if (!ec) {
    admin->open(admin_results.begin()->endpoint().protocol(), ec);
    if (!ec) admin->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) admin->bind(admin_results.begin()->endpoint(), ec);
    if (!ec) admin->listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec)
    throw std::runtime_error("cannot listen on admin address " + config.admin.host + ":" +
                             std::to_string(config.admin.port) + ": " + ec.message());
  spdlog::info("admin on http://{}:{}", config.admin.host, admin->local_endpoint().port());
  if (!shared.responder) {  // replay serve forwards nothing
    if (config.upstream.tls && !shared.upstream_tls.verify)
      spdlog::info("forwarding to {} (TLS, certificate not verified)", shared.upstream_name);
    else if (config.upstream.tls)
      spdlog::info("forwarding to {} (TLS, verifying the name {})", shared.upstream_name,
                   shared.upstream_tls.server_name);
    else
      spdlog::info("forwarding to {}", shared.upstream_name);
  }
  net::co_spawn(workers.front().ioc, admin_loop(), net::detached);
  net::co_spawn(workers.front().ioc, signal_loop(), net::detached);
  for (auto& worker : workers) {
    guards.push_back(net::make_work_guard(worker.ioc));
    net::co_spawn(worker.ioc, sweep_loop(worker), net::detached);
  }
}

Server::Server(const Config& config, capture::Tap& tap, Responder* responder)
    : impl_(std::make_unique<Impl>(config, tap, responder)) {}

Server::~Server() = default;

void Server::add_metrics(std::function<std::string()> source) {
  impl_->extra_metrics.push_back(std::move(source));
}

void Server::run() {
  impl_->start();
  std::vector<std::jthread> threads;
  for (std::size_t i = 1; i < impl_->workers.size(); ++i)
    threads.emplace_back([&w = impl_->workers[i]] { w.ioc.run(); });
  impl_->workers.front().ioc.run();
  threads.clear();
  impl_->access_log.flush();
  spdlog::info("stopped");
}

}  // namespace plextap::proxy
