// `plextap export KIND` and `plextap stats`: read-only views of a store, safe to run
// while `serve` is writing it.
#include "analytics/export.hpp"

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "analytics/clients.hpp"
#include "analytics/har_writer.hpp"
#include "app/cli.hpp"
#include "app/commands.hpp"
#include "base/time.hpp"
#include "capture/classify.hpp"
#include "capture/enrichment_record.hpp"
#include "capture/exchange.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

namespace plextap::app {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_interrupt(int) {
  g_stop = true;
}

struct ExportFlags {
  std::string kind;
  std::string data = "./plextap-data";
  std::string format = "jsonl";
  std::string since, until, client, output;
  bool follow = false;
};

int run_export(const ExportFlags& f) {
  analytics::ExportOptions options;
  const bool media = f.kind == "media", plays = f.kind == "plays", har = f.kind == "har",
             clients = f.kind == "clients", runs = f.kind == "runs",
             queues = f.kind == "queue_outcomes";
  if (!media && !plays && !har && !clients && !runs && !queues) {
    try {
      analytics::kinds_of_export(f.kind);
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
  }
  options.kind = f.kind;
  options.format =
      f.format == "csv" ? analytics::ExportFormat::csv : analytics::ExportFormat::jsonl;
  if (!f.since.empty()) options.since_ms = parse_time(f.since);
  if (!f.until.empty()) options.until_ms = parse_time(f.until);
  options.client = f.client;
  options.follow = f.follow;
  options.stop = &g_stop;

  store::Store store(std::filesystem::path(f.data) / "store", true);
  std::FILE* out = stdout;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(nullptr, &std::fclose);
  if (!f.output.empty() && f.output != "-") {
    file.reset(std::fopen(f.output.c_str(), "w"));
    if (!file) throw std::runtime_error("cannot write " + f.output);
    out = file.get();
  }
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  if (media)
    analytics::export_media(store, options.format, out);
  else if (plays)
    analytics::export_plays(store, options, out);
  else if (clients)
    analytics::export_clients(store, options, out);
  else if (runs)
    analytics::export_runs(store, options, out);
  else if (queues)
    analytics::export_queue_outcomes(store, options, out);
  else if (har)
    analytics::export_har(store, options, out);
  else
    analytics::export_events(store, options, out);
  if (std::ferror(out)) throw std::runtime_error("write failed");
  // What was intact has been written; a record that was not makes the run fail.
  store.throw_if_damaged();
  return 0;
}

// What the server sees that passes through the proxy, and the clients that bypass it.
void print_coverage(const analytics::Coverage& c) {
  auto n = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("clients     %llu seen on the server, %llu of them through the proxy\n",
              n(c.server_clients), n(c.server_clients_via_proxy));
  std::printf("plays       %llu seen on the server, %llu of them through the proxy\n",
              n(c.server_plays), n(c.server_plays_via_proxy));
  auto or_dash = [](const std::string& s) { return s.empty() ? "-" : s.c_str(); };
  for (const auto& r : c.bypassing)
    std::printf("  bypassing %s  %s  %s\n", r.client_id.c_str(), or_dash(r.product),
                or_dash(r.device_name));
}

int run_stats(const std::string& data) {
  store::Store store(std::filesystem::path(data) / "store", true);
  auto s = store.summary(capture::exchange_intact);
  std::printf("store       %s\n", store.dir().c_str());
  std::printf("size        %.1f MiB on disk (map %.0f MiB)\n",
              static_cast<double>(s.file_bytes) / (1 << 20),
              static_cast<double>(s.map_bytes) / (1 << 20));
  std::printf("events      %llu\n", static_cast<unsigned long long>(s.events));
  for (std::size_t kind = 0; kind < capture::kKindCount; ++kind)
    if (s.per_kind[kind])
      std::printf("  %-10s %llu\n",
                  std::string(capture::to_string(static_cast<capture::Kind>(kind))).c_str(),
                  static_cast<unsigned long long>(s.per_kind[kind]));
  std::printf("first       %s\n", s.first_ms ? base::rfc3339_ms(*s.first_ms).c_str() : "-");
  std::printf("last        %s\n", s.last_ms ? base::rfc3339_ms(*s.last_ms).c_str() : "-");
  std::printf("dropped     %llu\n", static_cast<unsigned long long>(s.dropped));
  std::uint64_t keys = 0, enriched = 0, failed = 0;
  store.for_each_rating_key([&](std::string_view key, const std::vector<std::uint64_t>&) {
    ++keys;
    if (auto stored = store.media(key)) {
      if (auto entry = capture::MediaEntry::decode(*stored))
        ++(entry->media_json.empty() ? failed : enriched);
      else
        store.note_damage("the media entry of rating key " + std::string(key) + ": not JSON");
    }
  });
  std::printf("items       %llu (enriched %llu, no metadata %llu, pending %llu)\n",
              static_cast<unsigned long long>(keys), static_cast<unsigned long long>(enriched),
              static_cast<unsigned long long>(failed),
              static_cast<unsigned long long>(keys - enriched - failed));
  print_coverage(analytics::coverage(analytics::collect_clients(store, {}, {})));
  std::fflush(stdout);
  store.throw_if_damaged();
  return 0;
}

}  // namespace

Runner add_export(CLI::App& app) {
  auto f = std::make_shared<ExportFlags>();
  auto* cmd = app.add_subcommand("export", "Export recorded events as JSON lines or CSV");
  std::string kinds;
  for (const auto& n : analytics::event_export_names()) kinds += (kinds.empty() ? "" : ", ") + n;
  kinds += ", plays, runs, queue_outcomes, clients, media, har";
  cmd->add_option("kind", f->kind, "What to export: " + kinds)->required();
  with_env(cmd->add_option("--data", f->data, "Data directory")->capture_default_str());
  with_env(cmd->add_option("--format", f->format, "Output format")
               ->check(CLI::IsMember({"jsonl", "csv"}))
               ->capture_default_str());
  with_env(
      cmd->add_option("--since", f->since, "From this time (RFC 3339, date, or age like 24h)"));
  with_env(cmd->add_option("--until", f->until, "Before this time"));
  with_env(cmd->add_option("--client", f->client, "Only this client identifier"));
  with_env(cmd->add_option("--output", f->output, "Write to FILE instead of standard output"));
  with_env(cmd->add_flag("--follow", f->follow, "Keep printing new events until interrupted"));
  return [f] { return run_export(*f); };
}

Runner add_stats(CLI::App& app) {
  auto data = std::make_shared<std::string>("./plextap-data");
  auto* cmd = app.add_subcommand(
      "stats", "Summarise the store: events per kind, time span, size, drops, client coverage");
  with_env(cmd->add_option("--data", *data, "Data directory")->capture_default_str());
  return [data] { return run_stats(*data); };
}

}  // namespace plextap::app
