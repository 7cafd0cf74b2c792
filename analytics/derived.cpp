#include "analytics/derived.hpp"

#include "analytics/media_join.hpp"
#include "analytics/play_feed.hpp"
#include "base/json_writer.hpp"

namespace plextap::analytics {

Derivation::Derivation(ItemLookup items, Emit emit)
    : emit_(std::move(emit)),
      runs_([this](const Run& r) {
        if (emit_.run) emit_.run(r);
      }),
      plays_(PlayOptions{}, std::move(items), [this](const Play& p) {
        if (emit_.play) emit_.play(p);
      }) {
  plays_.on_close([this](Play& p) { on_close(p); });
}

void Derivation::add(const store::StoredEvent& e, Kind kind, const capture::EventFields& f) {
  plays_.add(play_input(f, kind, e.ts_ms, e.id));
  if (kind == Kind::playqueue) queues_.on_call(e.ts_ms, f);
  if (kind == Kind::search && emit_.search) {
    SearchRow row;
    row.id = e.id;
    row.ts_ms = e.ts_ms;
    row.client_id = f.client_id;
    row.query = f.query;
    row.token_fp = f.token_fp;
    row.result_count = f.result_count;
    emit_.search(row);
  }
}

void Derivation::finish(std::optional<std::int64_t> end_ms) {
  plays_.finish(end_ms);
  runs_.finish();
}

// As a play ends: its run, its queue, its search's outcome.
void Derivation::on_close(Play& row) {
  runs_.on_play(row);
  queues_.on_play(row);
  if (row.search) {
    const std::int64_t ms = row.started_at_ms - row.search->ts_ms;
    auto [it, added] = outcomes_.try_emplace(row.search->id, SearchOutcome{row.rating_key, ms});
    if (!added && ms < it->second.ms_to_play) it->second = SearchOutcome{row.rating_key, ms};
  }
}

void derive(store::Store& store, const store::EventFilter& filter, Derivation::Emit emit,
            const std::function<void(Derivation&)>& done) {
  MediaJoin join(store);
  ItemCache items(join);
  Derivation d(std::ref(items), std::move(emit));
  read_events(store, filter, false,
              [&](const store::StoredEvent& e, Kind kind, const capture::EventFields& f) {
                d.add(e, kind, f);
              });
  d.finish(filter.until_ms);
  if (done) done(d);
}

std::string search_outcome_fields(const std::unordered_map<std::uint64_t, SearchOutcome>& outcomes,
                                  std::uint64_t id) {
  auto it = outcomes.find(id);
  if (it == outcomes.end()) return R"(,"played":false,"played_rating_key":null,"seconds_to_play":null)";
  std::string out = R"(,"played":true,"played_rating_key":)";
  base::append_json_string(out, it->second.rating_key);
  out += R"(,"seconds_to_play":)";
  base::JsonWriter(out).number(static_cast<double>(it->second.ms_to_play) / 1000.0);
  return out;
}

}  // namespace plextap::analytics
