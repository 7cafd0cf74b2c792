// Every row analytics derives from events, in one pass (DESIGN.md section 11): plays with
// their run, runs, play queue outcomes, and what each search led to. Exports and the report
// make one over a range of the store; `serve` keeps one (Insights) and feeds it as events
// are committed. Single-threaded, like the PlayBuilder inside it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "analytics/plays.hpp"
#include "analytics/queues.hpp"
#include "analytics/runs.hpp"
#include "capture/event.hpp"
#include "store/store.hpp"

namespace plextap::analytics {

// What a search led to: the first play whose search it was.
struct SearchOutcome {
  std::string rating_key;
  std::int64_t ms_to_play = 0;  // from the search to the play's start
};

// A search, as the views count it.
struct SearchRow {
  std::uint64_t id = 0;
  std::int64_t ts_ms = 0;
  std::string client_id, query, token_fp;
  std::optional<std::int64_t> result_count;
};

class Derivation {
 public:
  struct Emit {
    std::function<void(const Play&)> play;  // with its run_id and run_index
    std::function<void(const Run&)> run;
    std::function<void(const SearchRow&)> search;  // as each search event comes
  };
  Derivation(ItemLookup items, Emit emit);

  // One event, in store order (events of every kind may be given; those that make no row
  // are ignored).
  void add(const store::StoredEvent& event, Kind kind, const capture::EventFields& fields);
  // See PlayBuilder::advance_to and finish; finish also ends every run.
  void advance_to(std::int64_t now_ms) { plays_.advance_to(now_ms); }
  void finish(std::optional<std::int64_t> end_ms);

  const QueueTracker& queues() const { return queues_; }
  const std::unordered_map<std::uint64_t, SearchOutcome>& search_outcomes() const {
    return outcomes_;
  }
  const PlayBuilder& plays() const { return plays_; }
  const RunTracker& runs() const { return runs_; }

 private:
  void on_close(Play& play);

  Emit emit_;
  RunTracker runs_;
  QueueTracker queues_;
  std::unordered_map<std::uint64_t, SearchOutcome> outcomes_;
  PlayBuilder plays_;
};

// Reads the events of `filter` through a Derivation with enrichment joined from `store`;
// returns once finished (at `filter.until_ms`, when given).
void derive(store::Store& store, const store::EventFilter& filter, Derivation::Emit emit,
            const std::function<void(Derivation&)>& done = {});

// `,"played":…,"played_rating_key":…,"seconds_to_play":…` for the search event `id`: what
// `export searches` adds to each search.
std::string search_outcome_fields(const std::unordered_map<std::uint64_t, SearchOutcome>& outcomes,
                                  std::uint64_t id);

}  // namespace plextap::analytics
