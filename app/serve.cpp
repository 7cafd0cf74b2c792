// `plextap serve`: flags -> proxy::Config, the store and its writer, the recorder, run.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "analytics/coverage_meter.hpp"
#include "analytics/dashboard.hpp"
#include "analytics/views.hpp"
#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/notify.hpp"
#include "app/version.hpp"
#include "base/process_metrics.hpp"
#include "capture/recorder.hpp"
#include "certs/client_tls.hpp"
#include "enrich/enricher.hpp"
#include "enrich/scheduler.hpp"
#include "enrich/server_client.hpp"
#include "enrich/server_identity.hpp"
#include "enrich/server_watch.hpp"
#include "proxy/config.hpp"
#include "proxy/server.hpp"
#include "sink/pg.hpp"
#include "sink/sink.hpp"
#include "store/pruner.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

namespace plextap::app {
namespace {

struct ServeFlags {
  std::vector<std::string> listen{"https://0.0.0.0:32443"};
  std::string upstream = "http://127.0.0.1:32400";
  std::string data = "./plextap-data";
  std::string admin = "127.0.0.1:32480";
  std::string admin_token;
  std::string record = "tapped";
  ListenerTlsFlags listener_tls;
  UpstreamTlsFlags upstream_tls;
  std::string plex_token;
  bool no_enrich = false;
  bool no_server_watch = false;
  std::string access_log;
  std::string access_log_format;  // empty: json with --log-format json, else plextap
  std::string retention, exchange_retention = "30d";  // empty or "forever": keep
  std::string log_format = "text";
  std::string sink;  // PostgreSQL URL; empty: no sink
  unsigned threads = 0;
  std::size_t upstream_max_connections = 256;
  std::size_t body_cap = std::size_t{1} << 20;
  std::size_t queue = 65'536;
  std::string store_max_size = "64G";
  std::string queue_bytes = "256M";
  std::string header_timeout = "30s", keepalive_timeout = "75s", upstream_timeout = "120s",
              connect_timeout = "10s", drain_timeout = "10s", upstream_idle_timeout = "30s",
              body_timeout = "60s", enrich_timeout = "30s";
};

// What shutdown may take after the drain: the writer's last commits, with a margin for
// the rest (DESIGN.md section 9 promises --drain-timeout plus 5 s).
constexpr std::chrono::seconds kAfterDrain{4};

proxy::Config make_config(const ServeFlags& f) {
  proxy::Config config;
  try {
    for (const auto& url : f.listen) config.listen.push_back(proxy::parse_endpoint_url(url));
    config.upstream = proxy::parse_endpoint_url(f.upstream);
    config.admin = proxy::parse_host_port(f.admin);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  // The dashboard shows what every client watched: beyond this machine only with a token.
  if (f.admin_token.empty() && !proxy::is_loopback(config.admin))
    throw UsageError("--admin " + f.admin +
                     " is reachable from other machines: give --admin-token (or "
                     "PLEXTAP_ADMIN_TOKEN) to guard the dashboard, or use a loopback address");
  config.admin_token = f.admin_token;
  config.upstream_tls = upstream_tls_options(config.upstream, f.upstream_tls);
  config.header_timeout = parse_duration(f.header_timeout, "--header-timeout");
  config.body_timeout = parse_duration(f.body_timeout, "--body-timeout");
  config.keepalive_timeout = parse_duration(f.keepalive_timeout, "--keepalive-timeout");
  config.upstream_timeout = parse_duration(f.upstream_timeout, "--upstream-timeout");
  config.connect_timeout = parse_duration(f.connect_timeout, "--connect-timeout");
  config.upstream_idle_timeout = parse_duration(f.upstream_idle_timeout, "--upstream-idle-timeout");
  config.drain_timeout = parse_duration(f.drain_timeout, "--drain-timeout");
  config.threads = f.threads;
  config.upstream_max_connections = f.upstream_max_connections;
  config.access_log = f.access_log;
  config.json_logs = f.log_format == "json";
  config.access_log_format = f.access_log_format;
  return config;
}

// "90d" or a duration (cli.hpp); empty or "forever": keep forever.
std::optional<std::chrono::milliseconds> retention_of(const std::string& text, const char* flag) {
  if (text.empty() || text == "forever") return std::nullopt;
  const auto d = !text.empty() && text.back() == 'd'
                     ? parse_duration(text.substr(0, text.size() - 1) + "h") * 24
                     : parse_duration(text);
  if (d.count() <= 0) throw UsageError(std::string(flag) + " must be above 0 (or forever)");
  return d;
}

int run(const ServeFlags& f) {
  setup_logging(f.log_format == "json", f.log_format == "journal");
  // OpenSSL writes to client sockets with write(2), which raises SIGPIPE when the client
  // has gone; the error return is handled, the signal must not end the process.
  std::signal(SIGPIPE, SIG_IGN);
  proxy::Config config = make_config(f);
  enrich::FetchTimeouts enrich_timeouts;
  enrich_timeouts.total = parse_duration(f.enrich_timeout, "--enrich-timeout");
  if (enrich_timeouts.total.count() <= 0) throw UsageError("--enrich-timeout must be above 0");
  const std::size_t max_map = parse_size(f.store_max_size, "--store-max-size");
  const std::size_t queue_bytes = parse_size(f.queue_bytes, "--queue-bytes");
  store::Retention::Options retention;
  retention.events = retention_of(f.retention, "--retention");
  retention.exchanges = retention_of(f.exchange_retention, "--exchange-retention");
  // A bad CA file is reported before anything is logged or written: one line, exit 1
  // (apply_listener_tls does the same for the listeners' certificate).
  if (config.upstream.tls)
    certs::make_client_context({config.upstream_tls.ca_file, !config.upstream_tls.insecure});

  // A sink URL libpq cannot read fails now, before anything is served (one line, exit 1).
  if (!f.sink.empty()) sink::shown_url(f.sink);

  std::filesystem::path data = f.data;
  // The usage checks of the certificate flags come before the data directory is made.
  try {
    apply_listener_tls(config, f.listener_tls, data);
  } catch (const NoListenerCertificate& e) {
    // An https listener cannot start without a certificate; the others forward anyway.
    std::erase_if(config.listen, [](const proxy::Endpoint& listener) { return listener.tls; });
    if (config.listen.empty()) throw;
    spdlog::error("https:// listeners not started: {}", e.what());
  }
  // A data directory that cannot be made costs recording, never forwarding.
  std::error_code data_error;
  std::filesystem::create_directories(data, data_error);
  if (!data_error) ::chmod(data.c_str(), 0700);

  // Recording is never a reason not to forward: a store that cannot be opened leaves the
  // proxy running, degraded.
  std::unique_ptr<store::Store> store;
  std::unique_ptr<store::Writer> writer;
  std::unique_ptr<capture::Tap> tap;
  const capture::Recorder* recorder = nullptr;  // the tap, when it records
  if (f.record == "none") {
    spdlog::info("recording nothing (--record none): forwarding only");
    tap = std::make_unique<capture::NullTap>();
  } else if (data_error) {
    spdlog::error("recording disabled, forwarding only: cannot create the data directory {}: {}",
                  data.string(), data_error.message());
    tap = std::make_unique<capture::UnavailableTap>();
  } else {
    try {
      store = std::make_unique<store::Store>(data / "store", false,
                                             std::min(max_map, std::size_t{256} << 20));
      store::Writer::Options options;
      options.queue_capacity = f.queue;
      options.queue_bytes = queue_bytes;
      options.max_map_size = max_map;
      writer = std::make_unique<store::Writer>(*store, options);
      auto made = std::make_unique<capture::Recorder>(
          *writer, capture::TokenFingerprinter::from_data_dir(data),
          capture::Recorder::Options{f.body_cap, f.record == "all"});
      recorder = made.get();
      tap = std::move(made);
      spdlog::info("recording {} calls into {}", f.record == "all" ? "all non-media" : "analytics",
                   (data / "store").string());
    } catch (const std::exception& e) {
      spdlog::error("recording disabled, forwarding only: {}", e.what());
      recorder = nullptr;
      tap.reset();
      writer.reset();
      store.reset();
      tap = std::make_unique<capture::UnavailableTap>();
    }
  }

  // Enrichment in the background: a pass now and then, never on the I/O threads.
  std::unique_ptr<enrich::ServerClient> source;
  std::unique_ptr<enrich::Enricher> enricher;
  std::unique_ptr<enrich::Scheduler> scheduler;
  if (writer && !f.no_enrich) {
    if (f.plex_token.empty()) {
      spdlog::info("enrichment off: no --plex-token (or PLEX_TOKEN) given");
    } else {
      source = std::make_unique<enrich::ServerClient>(
          server_origin(config.upstream, config.upstream_tls), f.plex_token, enrich_timeouts);
      enricher =
          std::make_unique<enrich::Enricher>(*store, *writer, *source, enrich::Enricher::Options{});
      scheduler = std::make_unique<enrich::Scheduler>(*enricher, [&s = *source] { s.cancel(); });
      scheduler->start();
    }
  }

  // The server watch: what the server says of itself, on threads of its own.
  std::unique_ptr<enrich::ServerWatch> watch;
  if (writer && !f.no_server_watch && !f.plex_token.empty()) {
    watch = std::make_unique<enrich::ServerWatch>(
        *writer, server_origin(config.upstream, config.upstream_tls), f.plex_token, enrich_timeouts,
        enrich::ServerWatch::Options{});
    watch->start();
  } else if (writer && !f.no_server_watch) {
    spdlog::info("server watch off: no --plex-token (or PLEX_TOKEN) given");
  }

  // Which server the store records, for the rows the sink tags. Asked only where plextap
  // speaks to the server on its own account anyway (a token, or a sink to feed): a proxy
  // that only forwards sends the server nothing of its own.
  std::unique_ptr<enrich::ServerIdentity> identity;
  if (writer && (!f.plex_token.empty() || !f.sink.empty())) {
    identity = std::make_unique<enrich::ServerIdentity>(
        *store, server_origin(config.upstream, config.upstream_tls), enrich_timeouts);
    identity->start();
  }

  // Replication into PostgreSQL on a thread of its own: it only reads the store, so a
  // database that is down or slow costs its lag, never forwarding or recording.
  std::unique_ptr<sink::Sink> replica;
  if (store && !f.sink.empty()) {
    sink::SinkOptions options;
    options.url = f.sink;
    replica = std::make_unique<sink::Sink>(*store, options);
    replica->start();
  } else if (!f.sink.empty()) {
    spdlog::error("sink off: there is no store to replicate");
  }

  // Retention in the background, in small transactions beside the writer's.
  std::unique_ptr<store::Retention> pruner;
  if (store) {
    pruner = std::make_unique<store::Retention>(*store, retention);
    pruner->start();
  }

  // The coverage counts of /metrics, brought up to date in the background.
  std::unique_ptr<analytics::CoverageMeter> coverage;
  if (store) {
    coverage = std::make_unique<analytics::CoverageMeter>(*store);
    coverage->start();
  }

  // The dashboard on the admin listener, answered from memory; its own thread reads the store.
  std::unique_ptr<analytics::Insights> insights;
  if (store) insights = std::make_unique<analytics::Insights>(*store);
  analytics::Dashboard dashboard(insights.get(),
                                 [](const std::string& text) { return parse_time(text); });
  dashboard.start();
  config.admin_routes = [&dashboard](const proxy::AdminRequest& request) {
    auto a = dashboard.answer(request.method, request.target);
    return proxy::AdminAnswer{a.status, std::move(a.content_type), std::move(a.body),
                              std::move(a.headers)};
  };

  // In an optional so that it goes first after the drain: exchanges still in flight then
  // hold recordings whose bytes belong to the writer's budget.
  std::optional<proxy::Server> server;
  server.emplace(config, *tap);
  if (recorder) server->add_metrics([recorder] { return recorder->metrics_text(); });
  if (enricher) server->add_metrics([&e = *enricher] { return e.metrics_text(); });
  if (watch) server->add_metrics([&w = *watch] { return w.metrics_text(); });
  if (coverage) server->add_metrics([&c = *coverage] { return c.metrics_text(); });
  if (replica) server->add_metrics([&r = *replica] { return r.metrics_text(); });
  server->add_metrics(&base::process_metrics_text);
  server->add_metrics(&build_info_metrics);
  server->on_ready([] { notify_ready("serving"); });
  server->on_draining([&replica] {
    notify_stopping("draining: finishing requests in flight");
    if (replica) replica->request_stop();  // a connect in progress may take its timeout
  });
  if (pruner) server->add_metrics([&p = *pruner] { return p.metrics_text(); });
  server->run();
  server.reset();
  // After the drain, every stage is bounded so that SIGTERM ends the process within
  // --drain-timeout plus 5 s: fetches in progress are cancelled, not waited for, and the
  // writer commits what is queued until the deadline.
  const auto deadline = std::chrono::steady_clock::now() + kAfterDrain;
  if (scheduler) scheduler->stop();
  if (watch) watch->stop();
  if (identity) identity->stop();
  if (replica) replica->stop();
  if (coverage) coverage->stop();
  if (pruner) pruner->stop();
  dashboard.stop();
  tap.reset();
  if (writer) writer->stop(deadline);
  writer.reset();
  return 0;
}

}  // namespace

void add_upstream_tls_flags(CLI::App& cmd, UpstreamTlsFlags& flags) {
  with_env(cmd.add_option("--upstream-ca", flags.ca,
                          "PEM CA certificate(s) to verify an https upstream with, instead of the "
                          "system's trusted CAs"));
  with_env(cmd.add_option("--upstream-sni", flags.sni,
                          "Name to ask an https upstream for (SNI) and to verify its certificate "
                          "against, instead of the --upstream host"));
  with_env(cmd.add_flag("--upstream-insecure", flags.insecure,
                        "Do not verify an https upstream's certificate (warns at start)"));
}

proxy::UpstreamTlsOptions upstream_tls_options(const proxy::Endpoint& upstream,
                                               const UpstreamTlsFlags& flags) {
  if (!upstream.tls && (!flags.ca.empty() || !flags.sni.empty() || flags.insecure))
    throw UsageError(
        "--upstream-ca, --upstream-sni and --upstream-insecure need an https:// "
        "--upstream");
  if (!flags.ca.empty() && flags.insecure)
    throw UsageError("--upstream-ca and --upstream-insecure exclude each other");
  return {flags.ca, flags.sni, flags.insecure};
}

namespace {

// Every flag of serve, on `serve` and on `check` alike: one list for both.
void add_serve_flags(CLI::App* serve, const std::shared_ptr<ServeFlags>& f) {
  with_env(
      serve->add_option("--listen", f->listen, "Listener URL, repeatable (https:// or http://)")
          ->capture_default_str()
          ->delimiter(','));
  with_env(
      serve->add_option("--upstream", f->upstream, "Plex Media Server URL")->capture_default_str());
  with_env(
      serve->add_option("--data", f->data, "Data directory (store, secret, generated certificates)")
          ->capture_default_str());
  with_env(serve
               ->add_option("--admin", f->admin,
                            "Admin listener HOST:PORT for /metrics, /healthz, /readyz and the "
                            "dashboard")
               ->capture_default_str());
  with_env(serve->add_option("--admin-token", f->admin_token,
                             "Token the dashboard and /api/ ask for (Bearer, or ?token= once); "
                             "needed when --admin is not a loopback address"));
  with_env(serve
               ->add_option("--record", f->record,
                            "What to record: the analytics calls, all non-media exchanges, or none "
                            "(forward only)")
               ->check(CLI::IsMember({"tapped", "all", "none"}))
               ->capture_default_str());
  add_listener_tls_flags(*serve, f->listener_tls);
  add_upstream_tls_flags(*serve, f->upstream_tls);
  with_env(serve->add_option("--plex-token", f->plex_token, "Plex token for enrichment"))
      ->envname("PLEX_TOKEN");
  with_env(
      serve->add_flag("--no-enrich", f->no_enrich, "Do not fetch metadata for recorded items"));
  with_env(serve->add_flag("--no-server-watch", f->no_server_watch,
                           "Do not watch the server's own notifications, sessions and resources"));
  with_env(serve->add_option("--access-log", f->access_log,
                             "Access log file, or - for standard output"));
  with_env(serve
               ->add_option("--access-log-format", f->access_log_format,
                            "Access log format: plextap, combined (nginx's) or json (default: "
                            "json with --log-format json, else plextap)")
               ->check(CLI::IsMember({"plextap", "combined", "json"})));
  with_env(serve->add_option("--retention", f->retention,
                             "Delete events older than this (e.g. 365d); default: keep forever"));
  with_env(serve
               ->add_option("--exchange-retention", f->exchange_retention,
                            "Delete the raw exchanges kept for replay once older than this "
                            "(forever: keep)")
               ->capture_default_str());
  with_env(serve
               ->add_option("--log-format", f->log_format,
                            "Log format (journal: text with syslog priorities and no "
                            "timestamps, the default when JOURNAL_STREAM is set)")
               ->check(CLI::IsMember({"text", "json", "journal"}))
               ->capture_default_str());
  with_env(serve->add_option("--sink", f->sink,
                             "Replicate the store into this PostgreSQL database (a conninfo "
                             "string or postgres:// URI), as plextap sink does"));
  with_env(serve->add_option("--threads", f->threads, "I/O threads (0: one per core)")
               ->capture_default_str());
  with_env(
      serve->add_option("--body-cap", f->body_cap, "Bytes of each tapped body kept in the store")
          ->capture_default_str());
  with_env(serve
               ->add_option("--queue", f->queue,
                            "Exchanges waiting for the store before new ones are dropped")
               ->capture_default_str());
  with_env(serve
               ->add_option("--queue-bytes", f->queue_bytes,
                            "Memory the exchanges being recorded and waiting for the store may "
                            "hold before new ones are dropped")
               ->capture_default_str());
  with_env(
      serve->add_option("--store-max-size", f->store_max_size, "Largest size the store may grow to")
          ->capture_default_str());
  with_env(serve
               ->add_option("--header-timeout", f->header_timeout,
                            "Time a client has to send a request head")
               ->capture_default_str());
  with_env(serve
               ->add_option("--body-timeout", f->body_timeout,
                            "Time a request body may make no progress (else 408)")
               ->capture_default_str());
  with_env(serve
               ->add_option("--keepalive-timeout", f->keepalive_timeout,
                            "Idle time before a keep-alive client connection is closed")
               ->capture_default_str());
  with_env(serve
               ->add_option("--upstream-timeout", f->upstream_timeout,
                            "Time the server has to start answering (else 504)")
               ->capture_default_str());
  with_env(serve->add_option("--connect-timeout", f->connect_timeout, "Upstream connect timeout")
               ->capture_default_str());
  with_env(serve
               ->add_option("--upstream-idle-timeout", f->upstream_idle_timeout,
                            "Idle time before a pooled upstream connection is closed")
               ->capture_default_str());
  with_env(serve
               ->add_option("--upstream-max-connections", f->upstream_max_connections,
                            "Connections to the server at once, connecting ones included; "
                            "requests beyond wait up to --connect-timeout, then get 503")
               ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
               ->capture_default_str());
  with_env(serve
               ->add_option("--enrich-timeout", f->enrich_timeout,
                            "Time one enrichment fetch may take, connect to last byte")
               ->capture_default_str());
  with_env(serve
               ->add_option("--drain-timeout", f->drain_timeout,
                            "On SIGTERM, how long requests in flight may take to finish")
               ->capture_default_str());
}

// What check validates: what run() would build from the same flags.
ServePlan plan(const ServeFlags& f) {
  ServePlan p;
  p.config = make_config(f);
  p.listener_tls = f.listener_tls;
  p.data = f.data;
  p.record = f.record;
  p.plex_token = f.plex_token;
  p.enrich = !f.no_enrich;
  p.server_watch = !f.no_server_watch;
  p.store_max_size = parse_size(f.store_max_size, "--store-max-size");
  p.queue_bytes = parse_size(f.queue_bytes, "--queue-bytes");
  p.enrich_timeout = parse_duration(f.enrich_timeout, "--enrich-timeout");
  p.sink = f.sink;
  return p;
}

}  // namespace

Runner add_serve(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  add_serve_flags(app.add_subcommand("serve", "Forward Plex traffic to the server and record it"),
                  f);
  return [f] { return run(*f); };
}

Runner add_check(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  add_serve_flags(app.add_subcommand("check",
                                     "Check what serve would use (flags, config file, "
                                     "certificates, upstream, data directory) without serving"),
                  f);
  return [f, &app] {
    ServePlan p = plan(*f);
    if (const auto* config = app.get_option_no_throw("--config"))
      p.config_file = config->as<std::string>();
    return run_check(p);
  };
}

}  // namespace plextap::app
