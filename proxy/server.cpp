// `plextap serve` wired together: the I/O threads (proxy/worker.hpp), the client
// listeners (proxy/listener.hpp), the admin endpoint (proxy/admin.hpp), certificate
// loading and reloading, signals and the drain.
#include "proxy/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ctime>
#include <deque>
#include <thread>

#include "base/prometheus.hpp"
#include "certs/certificate_info.hpp"
#include "certs/client_tls.hpp"
#include "certs/server_tls.hpp"
#include "net/use_tuple.hpp"
#include "proxy/admin.hpp"
#include "proxy/listener.hpp"
#include "proxy/worker.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
using net::ip::tcp;

namespace {
using ::plextap::net::kUseTuple;
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

static AccessLogFormat access_log_format(const Config& c) {
  if (c.access_log_format.empty())
    return c.json_logs ? AccessLogFormat::json : AccessLogFormat::plextap;
  return parse_access_log_format(c.access_log_format);
}

struct Server::Impl {
  Impl(const Config& c, capture::Tap& tap, Responder* responder)
      : config(c),
        access_log(c.access_log, access_log_format(c)),
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
  Listener listener{workers};
  std::unique_ptr<Admin> admin;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  std::vector<MetricsSource> extra_metrics;
  std::function<void()> ready_hook, draining_hook;

  void start();
  void resolve_upstream();
  void load_tls();
  std::string tls_file() const;
  std::string own_metrics() const;
  std::int64_t open_connections() const;
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

// The proxy's own lines of /metrics: its counters, recording health, certificate expiry.
std::string Server::Impl::own_metrics() const {
  std::string text = metrics.render();
  base::PrometheusText out(text);
  out.family("plextap_recording_healthy", "gauge", "1 when recording works, 0 when degraded.");
  out.sample("plextap_recording_healthy", shared.tap.healthy() ? 1 : 0);
  if (auto not_after = shared.tls_not_after.load(); not_after != 0) {
    out.family("plextap_tls_certificate_expiry_seconds", "gauge",
               "Seconds until the served TLS certificate expires (negative once it has).");
    out.sample("plextap_tls_certificate_expiry_seconds",
               static_cast<std::int64_t>(not_after - std::time(nullptr)));
  }
  return text;
}

std::int64_t Server::Impl::open_connections() const {
  std::int64_t n = 0;
  for (const auto& w : workers) n += w.metrics.client_connections.load();
  return n;
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
  signals.add(SIGUSR1);
  for (;;) {
    auto [ec, signo] = co_await signals.async_wait(kUseTuple);
    if (ec) co_return;
    if (signo != SIGHUP && signo != SIGUSR1) break;
    // logrotate renamed the file: lines from now on go to a new one at the same path.
    if (!config.access_log.empty() && config.access_log != "-") {
      if (auto problem = access_log.reopen(); problem.empty())
        spdlog::info("reopened the access log {}", config.access_log);
      else
        spdlog::error("cannot reopen the access log, still writing the old file: {}", problem);
    }
    if (signo == SIGUSR1) continue;
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

// Runs on the first worker's thread. The listeners close; each worker, on its own
// thread, tells its idle sessions to close (Worker::drain) while busy ones finish their
// exchange and then close, as `draining` is set; whatever is left at the drain timeout
// goes with the io_contexts.
net::awaitable<void> Server::Impl::drain() {
  spdlog::info("shutting down: no new connections, waiting for requests in flight");
  shared.draining = true;
  if (draining_hook) draining_hook();
  if (admin) admin->stop();
  listener.stop();
  for (auto& worker : workers) net::post(worker.ioc, [&worker] { worker.drain(); });

  // The wait for the last connection polls the open-connection gauge: connections end on
  // any thread, and a poll every 20 ms, during the drain alone, keeps a cross-thread
  // notification out of every session's end.
  auto deadline = std::chrono::steady_clock::now() + config.drain_timeout;
  net::steady_timer timer(workers.front().ioc);
  while (open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(kUseTuple);
  }
  if (auto left = open_connections(); left > 0)
    spdlog::warn("drain timeout: closing {} connections still open", left);
  guards.clear();
  for (auto& worker : workers) worker.ioc.stop();
}

void Server::Impl::resolve_upstream() {
  net::io_context resolver_context;
  tcp::resolver resolver(resolver_context);
  boost::system::error_code ec;
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
    shared.upstream_tls.server_name = t.server_name.empty() ? config.upstream.host : t.server_name;
    shared.upstream_tls.verify = !t.insecure;
    if (t.insecure)
      spdlog::warn(
          "the upstream's TLS certificate is not verified (--upstream-insecure): anyone between "
          "here and {} can read and change the traffic",
          shared.upstream_name);
  }
}

void Server::Impl::start() {
  if (!shared.responder) resolve_upstream();
  for (unsigned i = 0; i < thread_count(); ++i) workers.emplace_back(i, shared, metrics.shard(i));

  bool any_tls = std::any_of(config.listen.begin(), config.listen.end(),
                             [](const Endpoint& e) { return e.tls; });
  if (any_tls) load_tls();
  for (const auto& endpoint : config.listen) listener.bind(endpoint);

  // /metrics: the proxy's own lines, then those of every part added (the recorder, the
  // enricher, a responder): the proxy knows nothing of what they count.
  admin = std::make_unique<Admin>(
      workers.front(), shared, [this] { return own_metrics(); }, std::move(extra_metrics));
  admin->start(config.admin);
  if (!shared.responder) {  // replay serve forwards nothing
    if (config.upstream.tls && !shared.upstream_tls.verify)
      spdlog::info("forwarding to {} (TLS, certificate not verified)", shared.upstream_name);
    else if (config.upstream.tls)
      spdlog::info("forwarding to {} (TLS, verifying the name {})", shared.upstream_name,
                   shared.upstream_tls.server_name);
    else
      spdlog::info("forwarding to {}", shared.upstream_name);
  }
  net::co_spawn(workers.front().ioc, signal_loop(), net::detached);
  if (ready_hook) net::post(workers.front().ioc, ready_hook);
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

void Server::on_ready(std::function<void()> hook) {
  impl_->ready_hook = std::move(hook);
}

void Server::on_draining(std::function<void()> hook) {
  impl_->draining_hook = std::move(hook);
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
