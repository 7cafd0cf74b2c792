// `plextap export plays`: the events plays are made of, from both sides, read in store
// order (play_feed) through a PlayBuilder; media joined from enrichment.
#include <functional>

#include "analytics/export.hpp"
#include "analytics/media_join.hpp"
#include "analytics/play_feed.hpp"
#include "analytics/plays.hpp"

namespace plextap::analytics {

std::uint64_t export_plays(store::Store& store, const ExportOptions& options, std::FILE* out) {
  auto sink = open_sink(options, out);
  MediaJoin join(store);
  MarkerCache markers(join);
  std::string json;
  auto emit = [&](const Play& play) {
    if (!options.client.empty() && play.client_id != options.client) return;
    json.clear();
    JsonWriter w(json);
    write_play(play, w, options.no_media ? std::string_view{} : join.media(play.rating_key));
    sink->write(json);
  };
  PlayBuilder builder(PlayOptions{}, std::ref(markers), emit);
  store::EventFilter filter;
  filter.since_ms = options.since_ms;
  filter.until_ms = options.until_ms;
  read_events(store, filter, false,
              [&](const store::StoredEvent& e, Kind kind, const capture::EventFields& fields) {
                builder.add(play_input(fields, kind, e.ts_ms));
              });
  builder.finish(options.until_ms);
  sink->flush();
  return sink->written();
}

}  // namespace plextap::analytics
