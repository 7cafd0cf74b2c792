#include "analytics/play_feed.hpp"

#include <algorithm>
#include <iterator>

#include "capture/enrichment_record.hpp"
#include "store/map_trimmer.hpp"

namespace plextap::analytics {
namespace {

constexpr Kind kPlayKinds[] = {Kind::timeline,     Kind::scrobble, Kind::unscrobble,
                               Kind::decision,     Kind::search,   Kind::playqueue,
                               Kind::notification, Kind::session};

bool makes_plays(Kind kind) {
  return std::find(std::begin(kPlayKinds), std::end(kPlayKinds), kind) != std::end(kPlayKinds);
}

}  // namespace

PlayInput play_input(const capture::EventFields& f, Kind kind, std::int64_t ts_ms,
                     std::uint64_t id) {
  PlayInput in;
  in.ts_ms = ts_ms;
  in.id = id;
  in.token_fp = f.token_fp;
  // Of the server's notifications, only `playing` ones report a play.
  in.kind =
      makes_plays(kind) && (kind != Kind::notification || f.op == "playing") ? kind : Kind::other;
  in.client_id = f.client_id;
  in.rating_key = f.rating_key;
  in.state = timeline_state_from(f.state);
  in.time_ms = f.time_ms;
  in.duration_ms = f.duration_ms;
  in.play_queue_item_id = f.play_queue_item_id;
  in.account_id = f.account_id;
  in.user_name = f.user_name;
  in.location = f.location;
  in.bandwidth_kbps = f.bandwidth_kbps;
  in.player_address = f.client_address;
  in.session = f.session;
  in.general_code = f.general_code;
  in.general_text = f.general_text;
  in.direct_play = f.direct_play;
  in.direct_stream = f.direct_stream;
  in.video_decision = f.video_decision;
  in.audio_decision = f.audio_decision;
  in.query = f.query;
  in.result_count = f.result_count;
  in.result_keys = f.result_keys;
  in.video_resolution = f.video_resolution;
  in.hdr = f.hdr;
  in.chosen_media_id = f.chosen_media_id;
  in.op = f.op;
  in.play_queue_id = f.play_queue_id;
  in.selected_item_id = f.selected_item_id;
  in.item_keys = f.item_keys;
  return in;
}

const ItemFacts* ItemCache::operator()(std::string_view key) {
  auto it = cache_.find(std::string(key));
  if (it == cache_.end()) {
    if (cache_.size() > 100'000) cache_.clear();
    const std::string& m = join_.media(key);
    it =
        cache_.emplace(std::string(key), m.empty() ? std::nullopt : capture::read_item_facts(m)).first;
  }
  return it->second ? &*it->second : nullptr;
}

std::uint64_t read_events(store::Store& store, const store::EventFilter& filter, bool all_kinds,
                          const EventVisit& visit, std::size_t max_events) {
  store::MapTrimmer trimmer;
  capture::EventReader reader;
  capture::EventFields fields;
  std::size_t read = 0;
  return store.for_each_event(filter, [&](const store::StoredEvent& e) {
    trimmer.tick(e.json);
    const bool more = max_events == 0 || ++read < max_events;
    const auto kind = static_cast<Kind>(e.kind);
    if (!all_kinds && !makes_plays(kind)) return more;
    if (!reader.read(e.json, kind, fields)) {
      store.note_damage("event " + std::to_string(e.id) + ": its JSON does not parse");
      return more;
    }
    visit(e, kind, fields);
    return more;
  });
}

}  // namespace plextap::analytics
