// `plextap export` of events: stored records with their id in front and enrichment joined,
// filtered by kind (with the store's kind index when one kind is asked for), time and
// client; --follow polls for new commits until stopped.
#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <unordered_map>
#include <stdexcept>
#include <thread>

#include "analytics/derived.hpp"
#include "analytics/export.hpp"
#include "analytics/media_join.hpp"
#include "capture/classify.hpp"
#include "capture/event.hpp"
#include "store/map_trimmer.hpp"

namespace plextap::analytics {
namespace {

using capture::Kind;

std::uint8_t k(Kind kind) {
  return static_cast<std::uint8_t>(kind);
}

const std::map<std::string, std::vector<std::uint8_t>>& export_kinds() {
  static const std::map<std::string, std::vector<std::uint8_t>> kinds{
      {"timeline", {k(Kind::timeline)}},
      {"scrobbles", {k(Kind::scrobble), k(Kind::unscrobble)}},
      {"ratings", {k(Kind::rate)}},
      {"queues", {k(Kind::playqueue)}},
      {"decisions", {k(Kind::decision)}},
      {"transcodes", {k(Kind::transcode)}},
      {"searches", {k(Kind::search)}},
      {"other", {k(Kind::other)}},
      {"notifications", {k(Kind::notification)}},
      {"sessions", {k(Kind::session)}},
      {"resources", {k(Kind::resources)}},
  };
  return kinds;
}

struct Filter {
  std::vector<std::uint8_t> kinds;  // empty: all
  std::string client_prefix;        // empty: every client
  bool accepts(const store::StoredEvent& e) const {
    if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), e.kind) == kinds.end())
      return false;
    return client_prefix.empty() || e.json.find(client_prefix) != std::string_view::npos;
  }
};

store::EventFilter store_filter(const ExportOptions& o, const std::vector<std::uint8_t>& kinds) {
  store::EventFilter f;
  f.since_ms = o.since_ms;
  f.until_ms = o.until_ms;
  if (kinds.size() == 1) f.kind = kinds.front();  // use the kind index
  return f;
}

}  // namespace

void event_record(std::string& out, const store::StoredEvent& e, MediaJoin* join) {
  out.clear();
  out += "{\"id\":\"";
  out += std::to_string(e.id);
  out += '"';
  if (e.json.size() > 2) out += ',';
  if (join)
    join->append_event(out, e.json.substr(1));
  else
    out.append(e.json.substr(1));
}

const std::vector<std::string>& event_export_names() {
  static const std::vector<std::string> names{"events", "timeline",      "scrobbles",  "ratings",
                                              "queues", "decisions",     "transcodes", "searches",
                                              "other",  "notifications", "sessions",   "resources"};
  return names;
}

std::vector<std::uint8_t> kinds_of_export(const std::string& name) {
  if (name == "events") return {};
  auto it = export_kinds().find(name);
  if (it == export_kinds().end()) {
    std::string known;
    for (const auto& n : event_export_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown export kind '" + name + "' (one of: " + known + ")");
  }
  return it->second;
}

std::unique_ptr<RecordSink> open_sink(const ExportOptions& options, std::FILE* out) {
  return make_record_sink(options.format, schema_of(options.kind), options.columns, out);
}

std::uint64_t export_events(store::Store& store, const ExportOptions& options, std::FILE* out) {
  Filter filter{kinds_of_export(options.kind),
                options.client.empty() ? "" : capture::stored_client_prefix(options.client)};
  auto base = store_filter(options, filter.kinds);
  auto sink = open_sink(options, out);
  store::MapTrimmer trimmer;
  MediaJoin join(store);
  MediaJoin* joined = options.no_media ? nullptr : &join;
  std::string json;
  // `searches` says what each search led to (derived.hpp): the plays of the range, and of
  // the search window after it, are made first.
  std::optional<std::unordered_map<std::uint64_t, SearchOutcome>> outcomes;
  if (options.kind == "searches") {
    store::EventFilter range;
    range.since_ms = options.since_ms;
    if (options.until_ms) range.until_ms = *options.until_ms + PlayOptions{}.search_window_ms;
    derive(store, range, {}, [&](Derivation& d) { outcomes = d.search_outcomes(); });
  }
  auto add_outcome = [&](const store::StoredEvent& e) {
    if (!outcomes || json.empty() || json.back() != '}') return;
    json.pop_back();
    json += search_outcome_fields(*outcomes, e.id);
    json += '}';
  };

  auto emit = [&](const store::StoredEvent& e) {
    trimmer.tick(e.json);
    if (filter.accepts(e)) {
      event_record(json, e, joined);
      add_outcome(e);
      sink->write(json);
    }
    return true;
  };
  std::uint64_t last = store.for_each_event(base, emit);
  sink->flush();
  while (options.follow && !(options.stop && options.stop->load())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto next = base;
    next.after_id = last;
    last = std::max(last, store.for_each_event(next, emit));
    sink->flush();
  }
  return sink->written();
}

}  // namespace plextap::analytics
