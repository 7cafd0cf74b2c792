#include "store/writer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/rate_limited_log.hpp"

namespace plextap::store {

Writer::Writer(Store& store, Options options)
    : store_(store), options_(options), budget_(options.queue_bytes) {
  {  // continue the id sequence of what is already stored
    Txn txn(store_.env(), false);
    Cursor cursor(txn, store_.events);
    if (cursor.last()) last_id_ = decode_u64(cursor.key());
  }
  try {
    store_.dropped();  // this writer only adds to the count; it must be readable to add
  } catch (const Error& e) {
    spdlog::error("store: {}; drops are counted in the metrics but not saved until it is fixed",
                  e.what());
  }
  queue_.reserve(options_.max_batch);
  thread_ = std::thread([this] { run(); });
}

Writer::~Writer() {
  stop(std::chrono::steady_clock::time_point::max());
}

void Writer::stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stop_deadline_ = deadline;
      stop_deadline_ns_ = std::max<std::int64_t>(1, deadline.time_since_epoch().count());
    }
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool Writer::submit(std::unique_ptr<Pending> work) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) {
      note_drop(1, counters_.dropped_queue_full);
      return false;
    }
    queue_.push_back(std::move(work));
    ++in_flight_;
    // Wake the writer only when it waits for a first item or for a full group: a wake-up
    // per event costs a futex call and a context switch on the producer's core.
    wake = queue_.size() == 1 || queue_.size() == options_.max_batch;
  }
  counters_.submitted.fetch_add(1, std::memory_order_relaxed);
  if (wake) wake_.notify_one();
  return true;
}

void Writer::count_over_budget() {
  note_drop(1, counters_.dropped_queue_bytes);
}

// Read per record: no lock, so the producers' submits are not held up.
bool Writer::past_stop_deadline() {
  const auto ns = stop_deadline_ns_.load(std::memory_order_relaxed);
  return ns != 0 && std::chrono::steady_clock::now().time_since_epoch().count() >= ns;
}

void Writer::flush() {
  std::unique_lock lock(mutex_);
  drained_.wait(lock, [&] { return in_flight_ == 0; });
}

void Writer::run() {
  std::vector<std::unique_ptr<Pending>> batch;
  auto last_sync = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, options_.sync_interval, [&] { return stopping_ || !queue_.empty(); });
      if (!stopping_ && !queue_.empty() && queue_.size() < options_.min_batch) {
        // A group that is still small: give it a moment to fill (group commit by time).
        wake_.wait_for(lock, options_.max_delay,
                       [&] { return stopping_ || queue_.size() >= options_.max_batch; });
      }
      if (queue_.empty() && stopping_) break;
      if (stopping_ && std::chrono::steady_clock::now() >= stop_deadline_) {
        const std::size_t left = queue_.size();
        queue_.clear();
        in_flight_ -= left;
        drained_.notify_all();
        note_drop(left, counters_.dropped_shutdown);
        spdlog::warn(
            "store: shutdown deadline reached, dropped {} queued records not yet committed", left);
        break;
      }
      std::size_t n = std::min(queue_.size(), options_.max_batch);
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    if (!batch.empty()) write_batch(batch);
    std::size_t done = batch.size();
    batch.clear();
    auto now = std::chrono::steady_clock::now();
    if (now - last_sync >= options_.sync_interval) {
      last_sync = now;
      save_drops();
      try {
        store_.env().sync();
      } catch (const Error& e) {
        spdlog::warn("store: {}", e.what());
      }
    }
    std::lock_guard lock(mutex_);
    in_flight_ -= done;
    if (in_flight_ == 0) drained_.notify_all();
  }
  if (!save_drops())
    spdlog::error("store: {} dropped events are not in the store's drop count: {}",
                  counters_.dropped_queue_full.load() + counters_.dropped_queue_bytes.load() +
                      counters_.dropped_store_error.load() + counters_.dropped_shutdown.load() -
                      saved_drops_,
                  last_drop_save_error_);
  try {
    store_.env().sync();
  } catch (const Error&) {
  }
}

// Adds this writer's drops since the last save to the store's count. The counters stay
// the authority: a save that fails changes nothing and is tried again a second later.
bool Writer::save_drops() {
  const std::uint64_t total =
      counters_.dropped_queue_full.load() + counters_.dropped_queue_bytes.load() +
      counters_.dropped_store_error.load() + counters_.dropped_shutdown.load();
  if (total == saved_drops_) return true;
  std::string error;
  if (store_.add_dropped(total - saved_drops_, &error)) {
    saved_drops_ = total;
    drop_save_failing_ = false;
    return true;
  }
  if (!drop_save_failing_)
    spdlog::warn("store: cannot save the drop count now, trying again: {}", error);
  drop_save_failing_ = true;
  last_drop_save_error_ = error;
  return false;
}

void Writer::note_drop(std::uint64_t n, std::atomic<std::uint64_t>& counter) {
  counter.fetch_add(n, std::memory_order_relaxed);
  last_drop_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                      std::memory_order_relaxed);
}

bool Writer::healthy() const {
  auto last = last_drop_ns_.load(std::memory_order_relaxed);
  if (last == 0) return true;
  auto since = std::chrono::steady_clock::now().time_since_epoch() -
               std::chrono::steady_clock::duration(last);
  return since > options_.unhealthy_after_drop;
}

std::uint64_t Writer::next_id(std::int64_t ts_ms) {
  std::uint64_t id = std::max(last_id_.load(std::memory_order_relaxed) + 1, first_id_at(ts_ms));
  last_id_.store(id, std::memory_order_relaxed);
  return id;
}

void Writer::write_batch(std::vector<std::unique_ptr<Pending>>& batch) {
  std::vector<Record> records;
  records.reserve(batch.size());
  std::size_t group_bytes = 0;
  auto group_started = std::chrono::steady_clock::now();
  auto commit = [&] {
    if (records.empty()) return;
    if (commit_records(records)) {
      counters_.written.fetch_add(records.size(), std::memory_order_relaxed);
      counters_.events_written.fetch_add(
          static_cast<std::uint64_t>(
              std::count_if(records.begin(), records.end(),
                            [](const Record& r) { return r.table == Record::Table::events; })),
          std::memory_order_relaxed);
    } else
      note_drop(records.size(), counters_.dropped_store_error);
    records.clear();
    group_bytes = 0;
    group_started = std::chrono::steady_clock::now();
  };
  for (auto& work : batch) {
    if (!work) continue;
    if (past_stop_deadline()) {  // a long group is cut short at shutdown, not waited for
      std::size_t left = 0;
      for (auto& rest : batch) left += rest != nullptr;
      for (auto& rest : batch) rest.reset();
      note_drop(left, counters_.dropped_shutdown);
      spdlog::warn("store: shutdown deadline reached, dropped {} records not yet committed", left);
      break;
    }
    Record r;
    try {
      if (work->build(r)) {
        group_bytes += r.json.size() + r.exchange.size();
        records.push_back(std::move(r));
      }
    } catch (const std::exception& e) {
      spdlog::warn("store: could not prepare a record: {}", e.what());
      note_drop(1, counters_.dropped_store_error);
    }
    work.reset();  // its copies and their share of the budget go now
    if (group_bytes >= options_.max_group_bytes ||
        std::chrono::steady_clock::now() - group_started >= options_.max_group_time)
      commit();
  }
  commit();
}

bool Writer::commit_records(std::vector<Record>& records) {
  const std::uint64_t first_before = last_id_.load();
  for (int attempt = 0; attempt < 8; ++attempt) {
    last_id_ = first_before;
    try {
      Txn txn(store_.env(), true);
      for (auto& r : records) {
        if (r.table != Record::Table::events) {  // keyed by rating key or client id
          txn.put(r.table == Record::Table::media ? store_.media_table : store_.accounts_table,
                  r.rating_key, r.json);
          continue;
        }
        const std::uint64_t id = next_id(r.ts_ms);
        std::string key = encode_u64(id);
        EventHeader header{kRecordFormat, r.kind, r.flags, r.ts_ms, !r.exchange.empty()};
        txn.put(store_.events, key, header.encode(id, r.json), MDB_APPEND);
        if (!r.exchange.empty()) txn.put(store_.exchanges, key, r.exchange, MDB_APPEND);
        txn.put(store_.by_kind, std::string(1, static_cast<char>(r.kind)) + key, {});
        if (!r.rating_key.empty()) txn.put(store_.by_rating_key, r.rating_key + '\0' + key, {});
      }
      txn.commit();
      counters_.commits.fetch_add(1, std::memory_order_relaxed);
      return true;
    } catch (const Error& e) {
      if (e.code() == MDB_MAP_FULL) {
        std::size_t size = store_.env().map_size();
        if (size * 2 <= options_.max_map_size) {
          store_.env().set_map_size(size * 2);
          spdlog::info("store: map grown to {} MiB", (size * 2) >> 20);
          continue;
        }
      }
      static base::RateLimitedLog write_errors(std::chrono::seconds(10), "more write errors");
      write_errors.error(
          fmt::format("store: cannot write, dropping {} events: {}", records.size(), e.what()));
      last_id_ = first_before;
      return false;
    }
  }
  last_id_ = first_before;
  return false;
}

}  // namespace plextap::store
