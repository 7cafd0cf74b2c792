// Retention: deletes events older than a time (with their exchanges and index entries)
// and exchanges older than another, in small write transactions with pauses between
// them, so the writer thread (or another process's) waits a few milliseconds at most.
// Every index stays consistent after each transaction: the rating-key index entries of
// the events to go are deleted first, then each event together with its kind index entry
// and its exchange; an exchange deleted alone clears its event's "has an exchange" bit.
// The store knows nothing of what an event means: it prunes by id, which is time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "store/store.hpp"

namespace plextap::store {

struct PruneCounts {
  std::uint64_t events = 0;     // events deleted
  std::uint64_t exchanges = 0;  // exchanges deleted (with their events or alone)
};

struct PruneOptions {
  std::size_t per_txn = 2'000;  // records deleted (or index entries looked at x4) per transaction
  std::chrono::milliseconds pause{10};  // between two transactions
};

// One pass. `events_before_ms`, `exchanges_before_ms`: null to keep them. `keep_going` is
// asked between transactions (false: the pass ends there, consistent). Throws Error.
PruneCounts prune(Store& store, std::optional<std::int64_t> events_before_ms,
                  std::optional<std::int64_t> exchanges_before_ms, const PruneOptions& options,
                  const std::function<bool()>& keep_going = {});

// `serve --retention`/`--exchange-retention`: a pass soon after start and then every
// `interval`, on a thread of its own; each pass logged in one line when it deleted
// anything. Counted for /metrics as plextap_pruned_total{what}.
class Retention {
 public:
  struct Options {
    std::optional<std::chrono::milliseconds> events;     // keep this long; null: forever
    std::optional<std::chrono::milliseconds> exchanges;  // idem
    std::chrono::milliseconds first_pass{5'000};
    std::chrono::milliseconds interval{std::chrono::hours(1)};
    PruneOptions prune;
  };
  Retention(Store& store, Options options);
  ~Retention();
  void start();
  void stop();
  std::string metrics_text() const;

 private:
  void run();
  bool wait(std::chrono::milliseconds d);

  Store& store_;
  Options options_;
  std::atomic<std::uint64_t> events_{0}, exchanges_{0}, passes_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace plextap::store
