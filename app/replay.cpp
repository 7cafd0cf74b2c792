// `plextap replay serve` and `plextap replay send`: flags -> a source of recorded
// exchanges (a store or a HAR file) -> the stand-in server or the re-sender.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "capture/classify.hpp"
#include "proxy/config.hpp"
#include "proxy/server.hpp"
#include "replay/report.hpp"
#include "replay/resender.hpp"
#include "replay/stand_in.hpp"

namespace plextap::app {
namespace {

struct SourceFlags {
  std::string data = "./plextap-data";
  std::string har;
  std::string since, until;
};

struct ReplayServeFlags {
  SourceFlags source;
  std::vector<std::string> listen{"http://127.0.0.1:32400"};
  std::string admin = "127.0.0.1:32481";
  std::vector<std::string> ignore_params;
  ListenerTlsFlags listener_tls;
  std::string access_log;
  std::string log_format = "text";
  unsigned threads = 0;
};

struct ReplaySendFlags {
  SourceFlags source;
  std::string target;
  std::string token;
  std::string speed = "1";
  std::vector<std::string> kinds;
  unsigned concurrency = 8;
  std::string report;
  bool fail_on_diff = false;
  std::string target_ca;
  bool insecure = false;
  std::string timeout = "30s";
};

void add_source_flags(CLI::App& cmd, SourceFlags& f) {
  with_env(cmd.add_option("--data", f.data, "Data directory whose store to replay")
               ->capture_default_str());
  with_env(cmd.add_option("--har", f.har, "Replay this HAR file instead of the store"));
  with_env(
      cmd.add_option("--since", f.since, "Only exchanges from this time (RFC 3339, date, age)"));
  with_env(cmd.add_option("--until", f.until, "Only exchanges before this time"));
}

std::vector<replay::RecordedExchange> load(const SourceFlags& f) {
  replay::TimeRange range;
  if (!f.since.empty()) range.since_ms = parse_time(f.since);
  if (!f.until.empty()) range.until_ms = parse_time(f.until);
  auto recorded = f.har.empty() ? replay::load_store(std::filesystem::path(f.data) / "store", range)
                                : replay::load_har(f.har, range);
  if (recorded.empty())
    throw replay::SourceError(
        "no recorded exchanges in " +
        (f.har.empty() ? (std::filesystem::path(f.data) / "store").string() : f.har) +
        (f.har.empty() ? " (serve records exchanges of the tapped kinds; --record all keeps the "
                         "rest of the API too)"
                       : ""));
  return recorded;
}

int run_serve(const ReplayServeFlags& f) {
  setup_logging(f.log_format == "json");
  std::signal(SIGPIPE, SIG_IGN);
  proxy::Config config;
  try {
    for (const auto& url : f.listen) config.listen.push_back(proxy::parse_endpoint_url(url));
    config.admin = proxy::parse_host_port(f.admin);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  config.threads = f.threads;
  config.access_log = f.access_log;
  config.json_logs = f.log_format == "json";

  // Everything is read before a port is opened: a bad source or certificate serves
  // nothing at all.
  apply_listener_tls(config, f.listener_tls, f.source.data);
  auto recorded = load(f.source);
  // The stand-in takes the bodies over; the rest of the recordings goes with `recorded`.
  replay::StandIn stand_in(std::move(recorded), replay::MatchRules{f.ignore_params});
  spdlog::info("replaying {} recorded exchanges ({} distinct requests) from {}",
               stand_in.exchanges(), stand_in.keys(),
               f.source.har.empty() ? (std::filesystem::path(f.source.data) / "store").string()
                                    : f.source.har);
  if (stand_in.invalid_headers() || stand_in.invalid_exchanges())
    spdlog::warn(
        "left out {} recorded header fields that are not valid HTTP and {} recorded exchanges "
        "with a status that is not three digits",
        stand_in.invalid_headers(), stand_in.invalid_exchanges());

  capture::NullTap no_recording;
  proxy::Server server(config, no_recording, &stand_in);
  server.add_metrics([&stand_in] { return stand_in.metrics_text(); });
  server.run();
  spdlog::info("replay answered {} requests, {} of them with no recorded match",
               stand_in.hits() + stand_in.misses(), stand_in.misses());
  return 0;
}

int run_send(const ReplaySendFlags& f) {
  setup_logging(false);
  std::signal(SIGPIPE, SIG_IGN);
  replay::ResendOptions options;
  options.target = f.target;
  if (!f.token.empty()) options.token = f.token;
  if (f.speed == "max") {
    options.max_speed = true;
  } else {
    try {
      std::size_t used = 0;
      options.speed = std::stod(f.speed, &used);
      if (used != f.speed.size() || !(options.speed > 0)) throw std::invalid_argument(f.speed);
    } catch (const std::exception&) {
      throw UsageError("bad --speed '" + f.speed + "' (a number above 0, or max)");
    }
  }
  if (f.concurrency == 0) throw UsageError("--concurrency is at least 1");
  options.concurrency = f.concurrency;
  options.ca_file = f.target_ca;
  options.insecure = f.insecure;
  options.timeout = parse_duration(f.timeout, "--timeout");
  std::vector<capture::Kind> kinds;
  for (const auto& k : f.kinds) {
    auto kind = capture::kind_from_string(k);
    if (!kind)
      throw UsageError("unknown --kind '" + k +
                       "' (timeline, scrobble, unscrobble, rate, playqueue, decision, "
                       "transcode, search, other)");
    kinds.push_back(*kind);
  }

  auto recorded = load(f.source);
  const std::size_t unanswered = std::erase_if(
      recorded, [](const replay::RecordedExchange& r) { return !replay::resendable(r); });
  if (!kinds.empty())
    std::erase_if(recorded, [&](const replay::RecordedExchange& r) {
      auto route = capture::classify(r.exchange.method, r.exchange.target);
      auto kind = route ? route->kind : capture::Kind::other;
      return std::find(kinds.begin(), kinds.end(), kind) == kinds.end();
    });
  if (recorded.empty()) throw std::runtime_error("no recorded requests of the kinds asked for");

  // Opened only once the source is known to be good: a bad one leaves an old report be.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> report_file(nullptr, &std::fclose);
  std::FILE* report_out = nullptr;
  if (f.report == "-") {
    report_out = stdout;
  } else if (!f.report.empty()) {
    report_file.reset(std::fopen(f.report.c_str(), "w"));
    if (!report_file) throw std::runtime_error("cannot write " + f.report);
    report_out = report_file.get();
  }
  std::FILE* summary_out = report_out == stdout ? stderr : stdout;
  if (unanswered)
    std::fprintf(summary_out,
                 "left out %zu recorded requests that never got an answer or opened a websocket\n",
                 unanswered);

  replay::ResendReport report(report_out);
  replay::ResendSummary summary;
  try {
    summary = replay::resend(recorded, options,
                             [&report](const replay::ResendResult& r) { report.add(r); });
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  report.print_summary(summary_out, summary, f.target);
  // Nothing answered: the target is down or is not the server meant, whatever the diff.
  if (summary.answered == 0) {
    std::fprintf(stderr, "plextap replay send: none of the %llu requests sent to %s was answered\n",
                 static_cast<unsigned long long>(summary.sent), f.target.c_str());
    return 1;
  }
  return f.fail_on_diff && summary.differ ? 1 : 0;
}

}  // namespace

Runner add_replay(CLI::App& app) {
  auto* replay = app.add_subcommand("replay", "Serve or re-send recorded traffic");
  replay->require_subcommand(1);

  auto s = std::make_shared<ReplayServeFlags>();
  auto* serve =
      replay->add_subcommand("serve", "Answer like the recorded server, from a store or HAR file");
  add_source_flags(*serve, s->source);
  with_env(
      serve->add_option("--listen", s->listen, "Listener URL, repeatable (http:// or https://)")
          ->capture_default_str()
          ->delimiter(','));
  with_env(serve->add_option("--admin", s->admin, "Admin listener HOST:PORT for /metrics")
               ->capture_default_str());
  with_env(serve
               ->add_option("--ignore-param", s->ignore_params,
                            "A query parameter not to match on, repeatable")
               ->delimiter(','));
  add_listener_tls_flags(*serve, s->listener_tls);
  with_env(serve->add_option("--access-log", s->access_log, "Access log file, or - for stdout"));
  with_env(serve->add_option("--log-format", s->log_format, "Log format")
               ->check(CLI::IsMember({"text", "json"}))
               ->capture_default_str());
  with_env(serve->add_option("--threads", s->threads, "I/O threads (0: one per core)")
               ->capture_default_str());

  auto r = std::make_shared<ReplaySendFlags>();
  auto* send = replay->add_subcommand(
      "send", "Re-send recorded requests to a server and report what it answers differently");
  add_source_flags(*send, r->source);
  with_env(send->add_option("--target", r->target, "Server to send to: http(s)://HOST:PORT")
               ->required());
  with_env(send->add_option("--token", r->token, "Plex token to send instead of the redacted one"))
      ->envname("PLEX_TOKEN");
  with_env(send->add_option("--speed", r->speed,
                            "Pacing: 1 as recorded, 2 twice as fast, max as fast as possible")
               ->capture_default_str());
  with_env(
      send->add_option("--kind", r->kinds, "Only this kind, repeatable (search, timeline, ...)")
          ->delimiter(','));
  with_env(send->add_option("--concurrency", r->concurrency, "Connections to the target")
               ->capture_default_str());
  with_env(send->add_option("--report", r->report,
                            "Write one JSON line per request to FILE (- for stdout)"));
  with_env(send->add_flag("--fail-on-diff", r->fail_on_diff, "Exit 1 when any answer differs"));
  with_env(send->add_option("--target-ca", r->target_ca, "PEM CA to verify an https target"));
  with_env(
      send->add_flag("--insecure", r->insecure, "Do not verify an https target's certificate"));
  with_env(send->add_option("--timeout", r->timeout,
                            "Time each request may take in all, connect to last byte")
               ->capture_default_str());

  return [serve, s, r] { return serve->parsed() ? run_serve(*s) : run_send(*r); };
}

}  // namespace plextap::app
