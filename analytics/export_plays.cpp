// `plextap export plays`: the events plays are made of, read in store order with
// capture::EventReader, through a PlayBuilder; media joined from enrichment.
#include <algorithm>
#include <iterator>
#include <optional>
#include <unordered_map>

#include "analytics/export.hpp"
#include "analytics/media_join.hpp"
#include "analytics/plays.hpp"
#include "capture/enrichment_record.hpp"
#include "capture/event.hpp"
#include "store/map_trimmer.hpp"

namespace plextap::analytics {
namespace {

using capture::Kind;

PlayInput play_input(const capture::EventFields& f, Kind kind, std::int64_t ts_ms) {
  PlayInput in;
  in.ts_ms = ts_ms;
  in.kind = kind;
  in.client_id = f.client_id;
  in.rating_key = f.rating_key;
  in.state = timeline_state_from(f.state);
  in.time_ms = f.time_ms;
  in.duration_ms = f.duration_ms;
  in.play_queue_item_id = f.play_queue_item_id;
  in.session = f.session;
  in.general_code = f.general_code;
  in.general_text = f.general_text;
  in.direct_play = f.direct_play;
  in.direct_stream = f.direct_stream;
  in.video_decision = f.video_decision;
  in.audio_decision = f.audio_decision;
  in.query = f.query;
  in.result_count = f.result_count;
  return in;
}

}  // namespace

std::uint64_t export_plays(store::Store& store, const ExportOptions& options, std::FILE* out) {
  auto sink = make_record_sink(options.format, out);
  store::MapTrimmer trimmer;
  MediaJoin join(store);
  std::unordered_map<std::string, std::optional<Markers>> marker_cache;
  auto lookup = [&](std::string_view key) -> const Markers* {
    auto it = marker_cache.find(std::string(key));
    if (it == marker_cache.end()) {
      if (marker_cache.size() > 100'000) marker_cache.clear();
      const std::string& m = join.media(key);
      it = marker_cache
               .emplace(std::string(key), m.empty() ? std::nullopt : capture::read_markers(m))
               .first;
    }
    return it->second ? &*it->second : nullptr;
  };
  std::vector<std::string> rows;  // CSV needs every column before the first row
  std::string json;
  auto emit = [&](const Play& play) {
    if (!options.client.empty() && play.client_id != options.client) return;
    json.clear();
    JsonWriter w(json);
    write_play(play, w, join.media(play.rating_key));
    if (sink->needs_columns())
      rows.push_back(json);
    else
      sink->write(json);
  };
  PlayBuilder builder(PlayOptions{}, lookup, emit);
  store::EventFilter filter;
  filter.since_ms = options.since_ms;
  filter.until_ms = options.until_ms;
  const Kind wanted[] = {Kind::timeline, Kind::scrobble, Kind::unscrobble, Kind::decision,
                         Kind::search};
  capture::EventReader reader;
  capture::EventFields fields;
  store.for_each_event(filter, [&](const store::StoredEvent& e) {
    trimmer.tick(e.json);
    const auto kind = static_cast<Kind>(e.kind);
    if (std::find(std::begin(wanted), std::end(wanted), kind) == std::end(wanted)) return true;
    if (!reader.read(e.json, kind, fields)) {
      store.note_damage("event " + std::to_string(e.id) + ": its JSON does not parse");
      return true;
    }
    builder.add(play_input(fields, kind, e.ts_ms));
    return true;
  });
  builder.finish(options.until_ms);
  for (const auto& r : rows) sink->learn(r);
  sink->begin({"client_id", "rating_key", "started_at", "ended_at"});
  for (const auto& r : rows) sink->write(r);
  sink->flush();
  return sink->written();
}

}  // namespace plextap::analytics
