// The derived tables' rows (plays, runs, queue outcomes, clients, media) kept current as
// events arrive: the Derivation of exports and the dashboard, fed the events the sink
// replicates, and what changed since the rows were last taken, as the records of
// `plextap export KIND`. Rows are upserted by their natural id, so taking a row twice is
// harmless: after a restart the state is rebuilt from the store and everything is taken once
// more. Single-threaded.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "analytics/clients.hpp"
#include "analytics/derived.hpp"
#include "analytics/media_join.hpp"
#include "analytics/play_feed.hpp"
#include "sink/copy_rows.hpp"
#include "sink/tables.hpp"
#include "store/store.hpp"

namespace plextap::sink {

class DerivedRows {
 public:
  explicit DerivedRows(store::Store& store);

  void add(const store::StoredEvent& event, analytics::Kind kind,
           const capture::EventFields& fields);

  struct Changes {
    std::vector<std::pair<const Table*, std::string>> rows;  // a table, one export record
    // Searches whose outcome (export searches' played, played_rating_key, seconds_to_play)
    // is new or changed, by event id.
    std::vector<std::pair<std::uint64_t, analytics::SearchOutcome>> outcomes;
    bool empty() const { return rows.empty() && outcomes.empty(); }
  };
  // What is new or changed since the last call. `now_ms`: plays idle past their timeout by
  // then have ended. `final`: the store is complete; open plays and runs end as in an
  // export (no event may be added after).
  Changes take(std::int64_t now_ms, bool final);
  // Finished rows waiting for take(): the caller takes them before they pile up.
  std::size_t waiting() const { return finished_.size(); }

 private:
  // Adds `json` as a row of `table` unless it is the one taken last time; `once`: the row is
  // final (a play or run that has ended), so nothing needs remembering about it.
  void offer(Changes& out, const Table& table, std::string json, bool once);

  store::Store& store_;
  analytics::MediaJoin join_;
  analytics::ItemCache items_;
  analytics::ClientTally tally_{false};
  analytics::Derivation derivation_;
  std::vector<std::pair<const Table*, std::string>> finished_;  // ended plays and runs
  std::unordered_map<std::string, std::size_t> taken_;  // table + row_key -> hash of its record
  std::unordered_map<std::uint64_t, analytics::SearchOutcome> outcomes_taken_;
  RowEncoder keys_;
};

}  // namespace plextap::sink
