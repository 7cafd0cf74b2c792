// `plextap export KIND` and `plextap stats`: read-only views of a store, safe to run
// while `serve` is writing it.
#include "analytics/export.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "analytics/clients.hpp"
#include "analytics/har_writer.hpp"
#include "analytics/schema.hpp"
#include "app/cli.hpp"
#include "app/commands.hpp"
#include "base/json_writer.hpp"
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
  std::string since, until, client, output, columns;
  bool follow = false, schema = false, no_media = false;
};

// The kinds `export` lists, for its help and its usage errors.
std::string known_kinds() {
  std::string known;
  for (const auto& n : analytics::schema_kinds()) known += (known.empty() ? "" : ", ") + n;
  return known + ", har";
}

int run_export(const ExportFlags& f) {
  analytics::ExportOptions options;
  const bool media = f.kind == "media", plays = f.kind == "plays", har = f.kind == "har",
             clients = f.kind == "clients", runs = f.kind == "runs",
             queues = f.kind == "queue_outcomes";
  const auto& kinds = analytics::schema_kinds();
  if (!har && std::find(kinds.begin(), kinds.end(), f.kind) == kinds.end())
    throw UsageError("unknown export kind '" + f.kind + "' (one of: " + known_kinds() + ")");
  if (har && f.format != "jsonl")
    throw UsageError("export har writes an HTTP Archive (JSON) document: --format " + f.format +
                     " does not apply");
  if (har && (f.schema || !f.columns.empty() || f.no_media))
    throw UsageError(
        "export har is an HTTP Archive document: --schema, --columns and --no-media "
        "do not apply");
  if (!har) {
    const auto& schema = analytics::schema_of(f.kind);
    if (f.no_media && (media || !analytics::find_field(schema.fields, "media")))
      throw UsageError("--no-media applies to events and plays, not to export " + f.kind);
    try {
      options.columns = analytics::select_columns(schema, f.columns);
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
  }
  if (f.schema) {
    // The shape alone: no store is opened, so it works anywhere.
    std::fputs(analytics::json_schema(analytics::schema_of(f.kind)).c_str(), stdout);
    return 0;
  }
  options.kind = f.kind;
  options.no_media = f.no_media;
  options.format =
      f.format == "csv" ? analytics::ExportFormat::csv : analytics::ExportFormat::jsonl;
  if (!f.since.empty()) options.since_ms = parse_time(f.since);
  if (!f.until.empty()) options.until_ms = parse_time(f.until);
  options.client = f.client;
  options.follow = f.follow;
  options.stop = &g_stop;

  store::Store store(std::filesystem::path(f.data) / "store", true);
  Output output(f.output);
  std::FILE* out = output.get();
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  if (media)
    analytics::export_media(store, options, out);
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

// What `stats` reports, gathered once and printed as text or as one JSON object.
struct Stats {
  std::string dir;
  store::Store::Summary summary;
  std::uint64_t items = 0, enriched = 0, no_metadata = 0;
  analytics::Coverage coverage;
};

Stats gather_stats(store::Store& store) {
  Stats st;
  st.dir = store.dir().string();
  st.summary = store.summary(capture::exchange_intact);
  store.for_each_rating_key([&](std::string_view key, const std::vector<std::uint64_t>&) {
    ++st.items;
    if (auto stored = store.media(key)) {
      if (auto entry = capture::MediaEntry::decode(*stored))
        ++(entry->media_json.empty() ? st.no_metadata : st.enriched);
      else
        store.note_damage("the media entry of rating key " + std::string(key) + ": not JSON");
    }
  });
  st.coverage = analytics::coverage(analytics::collect_clients(store, {}, {}));
  return st;
}

std::string kind_name(std::size_t kind) {
  return std::string(capture::to_string(static_cast<capture::Kind>(kind)));
}

void print_stats_text(const Stats& st) {
  auto n = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  const auto& s = st.summary;
  std::printf("store       %s\n", st.dir.c_str());
  std::printf("size        %.1f MiB on disk (map %.0f MiB)\n",
              static_cast<double>(s.file_bytes) / (1 << 20),
              static_cast<double>(s.map_bytes) / (1 << 20));
  std::printf("events      %llu\n", n(s.events));
  for (std::size_t kind = 0; kind < capture::kKindCount; ++kind)
    if (s.per_kind[kind])
      std::printf("  %-10s %llu\n", kind_name(kind).c_str(), n(s.per_kind[kind]));
  std::printf("first       %s\n", s.first_ms ? base::rfc3339_ms(*s.first_ms).c_str() : "-");
  std::printf("last        %s\n", s.last_ms ? base::rfc3339_ms(*s.last_ms).c_str() : "-");
  std::printf("dropped     %llu\n", n(s.dropped));
  std::printf("items       %llu (enriched %llu, no metadata %llu, pending %llu)\n", n(st.items),
              n(st.enriched), n(st.no_metadata), n(st.items - st.enriched - st.no_metadata));
  // What the server sees that passes through the proxy, and the clients that bypass it.
  const auto& c = st.coverage;
  std::printf("clients     %llu seen on the server, %llu of them through the proxy\n",
              n(c.server_clients), n(c.server_clients_via_proxy));
  std::printf("plays       %llu seen on the server, %llu of them through the proxy\n",
              n(c.server_plays), n(c.server_plays_via_proxy));
  auto or_dash = [](const std::string& v) { return v.empty() ? "-" : v.c_str(); };
  for (const auto& r : c.bypassing)
    std::printf("  bypassing %s  %s  %s\n", r.client_id.c_str(), or_dash(r.product),
                or_dash(r.device_name));
}

// The same as the text, as one object: sizes in bytes, times RFC 3339 or null.
std::string stats_json(const Stats& st) {
  const auto& s = st.summary;
  std::string out;
  base::JsonWriter w(out);
  auto count = [&](std::string_view key, std::uint64_t v) {
    w.key(key);
    w.uint64(v);
  };
  auto time_or_null = [&](std::string_view key, const std::optional<std::int64_t>& ms) {
    w.key(key);
    if (ms)
      w.string(base::rfc3339_ms(*ms));
    else
      w.null();
  };
  auto string_or_null = [&](std::string_view key, const std::string& v) {
    w.key(key);
    if (v.empty())
      w.null();
    else
      w.string(v);
  };
  w.begin_object();
  w.key("store");
  w.string(st.dir);
  count("file_bytes", s.file_bytes);
  count("map_bytes", s.map_bytes);
  count("events", s.events);
  w.key("events_per_kind");
  w.begin_object();
  for (std::size_t kind = 0; kind < capture::kKindCount; ++kind)
    if (s.per_kind[kind]) count(kind_name(kind), s.per_kind[kind]);
  w.end_object();
  time_or_null("first", s.first_ms);
  time_or_null("last", s.last_ms);
  count("dropped", s.dropped);
  w.key("items");
  w.begin_object();
  count("total", st.items);
  count("enriched", st.enriched);
  count("no_metadata", st.no_metadata);
  count("pending", st.items - st.enriched - st.no_metadata);
  w.end_object();
  const auto& c = st.coverage;
  w.key("coverage");
  w.begin_object();
  count("server_clients", c.server_clients);
  count("server_clients_via_proxy", c.server_clients_via_proxy);
  count("server_plays", c.server_plays);
  count("server_plays_via_proxy", c.server_plays_via_proxy);
  w.key("bypassing");
  w.begin_array();
  for (const auto& r : c.bypassing) {
    w.begin_object();
    string_or_null("client_id", r.client_id);
    string_or_null("product", r.product);
    string_or_null("device_name", r.device_name);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  w.end_object();
  out += '\n';
  return out;
}

int run_stats(const std::string& data, const std::string& format) {
  store::Store store(std::filesystem::path(data) / "store", true);
  const Stats st = gather_stats(store);
  if (format == "json")
    std::fputs(stats_json(st).c_str(), stdout);
  else
    print_stats_text(st);
  std::fflush(stdout);
  store.throw_if_damaged();
  return 0;
}

}  // namespace

Runner add_export(CLI::App& app) {
  auto f = std::make_shared<ExportFlags>();
  auto* cmd = app.add_subcommand("export", "Export recorded events as JSON lines or CSV");
  cmd->add_option("kind", f->kind, "What to export: " + known_kinds())->required();
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
  cmd->add_flag("--schema", f->schema,
                "Print the kind's fields as a JSON Schema (CSV column order) and exit");
  with_env(cmd->add_flag("--no-media", f->no_media,
                         "Leave the media join out: media stays null (events, plays)"));
  with_env(cmd->add_option("--columns", f->columns,
                           "Only these fields, comma-separated: CSV column names (media.title) "
                           "or objects (media)"));
  return [f] { return run_export(*f); };
}

Runner add_stats(CLI::App& app) {
  struct StatsFlags {
    std::string data = "./plextap-data";
    std::string format = "text";
  };
  auto f = std::make_shared<StatsFlags>();
  auto* cmd = app.add_subcommand(
      "stats", "Summarise the store: events per kind, time span, size, drops, client coverage");
  with_env(cmd->add_option("--data", f->data, "Data directory")->capture_default_str());
  with_env(cmd->add_option("--format", f->format, "Output format")
               ->check(CLI::IsMember({"text", "json"}))
               ->capture_default_str());
  return [f] { return run_stats(f->data, f->format); };
}

}  // namespace plextap::app
