// The coverage counts of /metrics (DESIGN.md section 10): how many of the clients and plays
// the server sees pass through the proxy. `stats` reads the whole store for them; `serve`
// cannot afford that per scrape, so this meter keeps a ClientTally and feeds it, on a thread
// of its own, only the events committed since its last round; plays still open count as
// they stand, as in `stats`. A round runs when a scrape asks, at most one per `min_gap`: the
// scrape answers at once with the last round's counts, and nothing is read while nobody asks.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "analytics/asked_rounds.hpp"
#include "analytics/clients.hpp"
#include "store/store.hpp"

namespace plextap::analytics {

class CoverageMeter {
 public:
  explicit CoverageMeter(store::Store& store,
                         std::chrono::milliseconds min_gap = std::chrono::seconds(5));
  ~CoverageMeter();
  CoverageMeter(const CoverageMeter&) = delete;
  CoverageMeter& operator=(const CoverageMeter&) = delete;

  void start();
  // Ends the round in progress and the thread. Idempotent.
  void stop();

  // One round on the caller's thread: reads what was committed since the last.
  void update();

  // The last round's counts; asks for a new round.
  std::string metrics_text();

 private:
  store::Store& store_;
  ClientTally tally_;          // the meter's thread only
  std::uint64_t last_id_ = 0;  // the meter's thread only
  mutable std::mutex counts_mutex_;
  Coverage counts_;              // under counts_mutex_, `bypassing` empty
  std::int64_t updated_ms_ = 0;  // under counts_mutex_; 0: no round yet
  AskedRounds rounds_;
};

}  // namespace plextap::analytics
