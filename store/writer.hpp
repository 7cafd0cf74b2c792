// The only thread that writes the store. Producers hand over work through a queue bounded
// by count and by bytes and never wait: when it is full the work is dropped and counted.
// The writer commits in groups (up to max_batch records, max_group_bytes or
// max_group_time per transaction, waiting at most max_delay for a group to fill), grows
// the map when it fills, and reports itself unhealthy while it cannot write.
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

// The memory held for the store, in bytes: what producers copy for it (exchanges being
// recorded) and what waits in the writer's queue. Past its limit new work is refused, so
// a flood of large answers costs drops, not memory.
class ByteBudget {
 public:
  explicit ByteBudget(std::size_t limit) : limit_(limit) {}
  bool try_take(std::size_t n) {
    auto held = held_.load(std::memory_order_relaxed);
    do {
      if (held + n > limit_) return false;
    } while (!held_.compare_exchange_weak(held, held + n, std::memory_order_relaxed));
    return true;
  }
  void give_back(std::size_t n) { held_.fetch_sub(n, std::memory_order_relaxed); }
  std::size_t held() const { return held_.load(std::memory_order_relaxed); }
  std::size_t limit() const { return limit_; }

 private:
  const std::size_t limit_;
  std::atomic<std::size_t> held_{0};
};

// A share of a ByteBudget, given back when it is destroyed (with the work it paid for).
class Reservation {
 public:
  Reservation() = default;
  explicit Reservation(ByteBudget* budget) : budget_(budget) {}
  Reservation(Reservation&& o) noexcept : budget_(o.budget_), bytes_(o.bytes_) { o.bytes_ = 0; }
  Reservation& operator=(Reservation&& o) noexcept {
    std::swap(budget_, o.budget_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~Reservation() {
    if (budget_ && bytes_) budget_->give_back(bytes_);
  }
  // Takes `n` more bytes; false (taking nothing) when the budget has no room.
  bool grow(std::size_t n) {
    if (!budget_ || !budget_->try_take(n)) return false;
    bytes_ += n;
    return true;
  }
  std::size_t bytes() const { return bytes_; }

 private:
  ByteBudget* budget_ = nullptr;
  std::size_t bytes_ = 0;
};

// Work for the writer thread: turns into a Record there, so that expensive preparation
// (decompressing, parsing) happens off the producer's thread. It holds its share of the
// byte budget until the writer is done with it.
class Pending {
 public:
  virtual ~Pending() = default;
  // Fills `out`; false when there is nothing to store.
  virtual bool build(Record& out) = 0;
};

// A record of a keyed table (media per rating key, accounts per client), its value ready.
class KeyedRecord final : public Pending {
 public:
  KeyedRecord(Record::Table table, std::string key, std::string json)
      : table_(table), key_(std::move(key)), json_(std::move(json)) {}
  bool build(Record& out) override {
    out.table = table_;
    out.rating_key = std::move(key_);
    out.json = std::move(json_);
    return true;
  }

 private:
  Record::Table table_;
  std::string key_, json_;
};

class Writer {
 public:
  struct Options {
    std::size_t queue_capacity = 65'536;
    std::size_t max_batch = 4'096;
    // Bytes of memory the tap's copies and the queue may hold (--queue-bytes).
    std::size_t queue_bytes = std::size_t{256} << 20;
    // A group is committed once its records hold this much, or took this long to build,
    // so a burst of large records is committed in seconds with bounded memory.
    std::size_t max_group_bytes = std::size_t{16} << 20;
    std::chrono::milliseconds max_group_time{250};
    std::size_t min_batch = 64;  // below this, wait up to max_delay for more
    std::chrono::milliseconds max_delay{5};
    std::chrono::milliseconds sync_interval{1'000};
    std::size_t max_map_size = std::size_t{64} << 30;
    // How long the writer reports itself unhealthy after dropping anything.
    std::chrono::milliseconds unhealthy_after_drop{30'000};
  };
  struct Counters {
    std::atomic<std::uint64_t> submitted{0};
    std::atomic<std::uint64_t> written{0};         // records of every table
    std::atomic<std::uint64_t> events_written{0};  // of them, events (not media, accounts)
    std::atomic<std::uint64_t> dropped_queue_full{0};
    std::atomic<std::uint64_t> dropped_queue_bytes{0};  // over the byte budget
    std::atomic<std::uint64_t> dropped_store_error{0};
    std::atomic<std::uint64_t> dropped_shutdown{0};  // still queued at stop()'s deadline
    std::atomic<std::uint64_t> commits{0};
  };

  Writer(Store& store, Options options);
  ~Writer();  // stop() without a deadline, unless stop() ran already
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Never blocks. False (and counted) when the queue is full or the writer has stopped.
  bool submit(std::unique_ptr<Pending> work);
  // The budget producers take their copies' bytes from (see Reservation).
  ByteBudget& budget() { return budget_; }
  // Counts work a producer gave up because the byte budget had no room for it.
  void count_over_budget();
  // Waits until everything submitted so far is committed or dropped (tests, shutdown).
  void flush();
  // Refuses new work and commits what is queued until `deadline`; what is still queued
  // then is dropped, counted and logged in one line. Returns when the writer thread has
  // ended: at the deadline plus the group commit in progress then.
  void stop(std::chrono::steady_clock::time_point deadline);
  // False while anything was dropped within the last `unhealthy_after_drop`.
  bool healthy() const;
  const Counters& counters() const { return counters_; }
  std::uint64_t last_id() const { return last_id_.load(std::memory_order_relaxed); }

 private:
  void run();
  void write_batch(std::vector<std::unique_ptr<Pending>>& batch);
  bool past_stop_deadline();
  bool commit_records(std::vector<Record>& records);
  std::uint64_t next_id(std::int64_t ts_ms);

  Store& store_;
  Options options_;
  Counters counters_;
  ByteBudget budget_;
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
  std::atomic<std::int64_t> stop_deadline_ns_{0};  // stop_deadline_ for past_stop_deadline()
  std::chrono::steady_clock::time_point stop_deadline_ =
      std::chrono::steady_clock::time_point::max();
  std::thread thread_;
};

}  // namespace plextap::store
