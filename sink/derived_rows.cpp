#include "sink/derived_rows.hpp"

#include <functional>

#include "analytics/export.hpp"
#include "analytics/queues.hpp"
#include "analytics/runs.hpp"
#include "base/json_writer.hpp"

namespace plextap::sink {
namespace {

// Writes one row with `write` (a write_play, write_run, … of analytics) as a JSON record.
template <typename F>
std::string record(F&& write) {
  std::string json;
  base::JsonWriter w(json);
  write(w);
  return json;
}

}  // namespace

DerivedRows::DerivedRows(store::Store& store)
    : store_(store),
      join_(store),
      items_(join_),
      derivation_(std::ref(items_), [this] {
        analytics::Derivation::Emit emit;
        emit.play = [this](const analytics::Play& p) {
          tally_.on_play(p);
          finished_.emplace_back(&table_named("plays"), record([&](base::JsonWriter& w) {
                                   analytics::write_play(p, w, join_.media(p.rating_key));
                                 }));
        };
        emit.run = [this](const analytics::Run& r) {
          finished_.emplace_back(&table_named("runs"), record([&](base::JsonWriter& w) {
                                   analytics::write_run(r, w);
                                 }));
        };
        return emit;
      }()) {}

void DerivedRows::add(const store::StoredEvent& event, analytics::Kind kind,
                      const capture::EventFields& fields) {
  derivation_.add(event, kind, fields);
  tally_.add(event, kind, fields);
}

void DerivedRows::offer(Changes& out, const Table& table, std::string json, bool once) {
  std::string key = table.name + '\n' + keys_.row_key(table, json);
  const std::size_t hash = std::hash<std::string>{}(json);
  if (once) {
    taken_.erase(key);
  } else {
    auto [it, added] = taken_.try_emplace(std::move(key), hash);
    if (!added && it->second == hash) return;
    it->second = hash;
  }
  out.rows.emplace_back(&table, std::move(json));
}

DerivedRows::Changes DerivedRows::take(std::int64_t now_ms, bool final) {
  if (final) {
    derivation_.finish(std::nullopt);
    tally_.finish(std::nullopt);
  } else {
    derivation_.advance_to(now_ms);
  }
  Changes out;
  // What is still open comes first: a row that ended since is then taken in its final form.
  derivation_.plays().for_each_pending([&](const analytics::Play& p) {
    offer(out, table_named("plays"), record([&](base::JsonWriter& w) {
            analytics::write_play(p, w, join_.media(p.rating_key));
          }),
          false);
  });
  derivation_.runs().for_each_open([&](const analytics::Run& r) {
    offer(out, table_named("runs"),
          record([&](base::JsonWriter& w) { analytics::write_run(r, w); }), false);
  });
  for (auto& [table, json] : finished_) offer(out, *table, std::move(json), true);
  finished_.clear();
  for (const analytics::QueueOutcome* q : derivation_.queues().rows())
    offer(out, table_named("queue_outcomes"),
          record([&](base::JsonWriter& w) { analytics::write_queue_outcome(*q, w); }), false);
  for (analytics::ClientRow& row : tally_.rows()) {
    analytics::complete_user(row, store_);
    offer(out, table_named("clients"),
          record([&](base::JsonWriter& w) { analytics::write_client(row, w); }), false);
  }
  store_.for_each_media([&](std::string_view key, std::string_view value) {
    offer(out, table_named("media"), analytics::media_record(key, value), false);
    return true;
  });
  for (const auto& [id, outcome] : derivation_.search_outcomes()) {
    auto [it, added] = outcomes_taken_.try_emplace(id, outcome);
    if (!added && it->second.rating_key == outcome.rating_key &&
        it->second.ms_to_play == outcome.ms_to_play)
      continue;
    it->second = outcome;
    out.outcomes.emplace_back(id, outcome);
  }
  return out;
}

}  // namespace plextap::sink
