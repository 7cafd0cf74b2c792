// The only thread that writes the store. Producers hand over work through a bounded
// queue and never wait: when the queue is full the work is dropped and counted. The
// writer commits in groups (up to max_batch records per transaction, waiting at most
// max_delay for a group to fill), grows the map when it fills, and reports itself
// unhealthy while it cannot write.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/store.hpp"

namespace plextap::store {

// Work for the writer thread: turns into a Record there, so that expensive preparation
// (decompressing, parsing) happens off the producer's thread.
class Pending {
 public:
  virtual ~Pending() = default;
  // Fills `out`; false when there is nothing to store.
  virtual bool build(Record& out) = 0;
};

class Writer {
 public:
  struct Options {
    std::size_t queue_capacity = 65'536;
    std::size_t max_batch = 4'096;
    std::size_t min_batch = 64;  // below this, wait up to max_delay for more
    std::chrono::milliseconds max_delay{5};
    std::chrono::milliseconds sync_interval{1'000};
    std::size_t max_map_size = std::size_t{64} << 30;
    // How long the writer reports itself unhealthy after dropping anything.
    std::chrono::milliseconds unhealthy_after_drop{30'000};
  };
  struct Counters {
    std::atomic<std::uint64_t> submitted{0};
    std::atomic<std::uint64_t> written{0};
    std::atomic<std::uint64_t> dropped_queue_full{0};
    std::atomic<std::uint64_t> dropped_store_error{0};
    std::atomic<std::uint64_t> commits{0};
  };

  Writer(Store& store, Options options);
  ~Writer();  // writes what is queued, then stops
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Never blocks. False (and counted) when the queue is full or the writer has stopped.
  bool submit(std::unique_ptr<Pending> work);
  // Waits until everything submitted so far is committed or dropped (tests, shutdown).
  void flush();
  // False while anything was dropped within the last `unhealthy_after_drop`.
  bool healthy() const;
  const Counters& counters() const { return counters_; }
  std::uint64_t last_id() const { return last_id_.load(std::memory_order_relaxed); }

 private:
  void run();
  void write_batch(std::vector<std::unique_ptr<Pending>>& batch);
  bool commit_records(std::vector<Record>& records);
  std::uint64_t next_id(std::int64_t ts_ms);

  Store& store_;
  Options options_;
  Counters counters_;
  void note_drop(std::uint64_t n, std::atomic<std::uint64_t>& counter);
  std::atomic<std::int64_t> last_drop_ns_{0};  // steady clock; 0: never
  std::atomic<std::uint64_t> last_id_{0};
  bool save_drops();
  std::uint64_t saved_drops_ = 0;  // of this writer's drops, those added to the store's count
  bool drop_save_failing_ = false;
  std::string last_drop_save_error_;

  std::mutex mutex_;
  std::condition_variable wake_;     // work arrived, or stop
  std::condition_variable drained_;  // queue empty and batch done
  std::vector<std::unique_ptr<Pending>> queue_;
  std::uint64_t in_flight_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace plextap::store
