#include "store/pruner.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "base/prometheus.hpp"

namespace plextap::store {
namespace {

using Clock = std::chrono::system_clock;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

// Each step is one transaction; it returns false when nothing is left for it.
class Pass {
 public:
  Pass(Store& store, const PruneOptions& options, const std::function<bool()>& keep_going)
      : store_(store), options_(options), keep_going_(keep_going) {}

  // Runs `step` until it has nothing left or the pass is told to stop.
  template <class Step>
  void repeat(Step step) {
    for (bool first = true;; first = false) {
      if (!first) {
        if (keep_going_ && !keep_going_()) {
          stopped_ = true;
          return;
        }
        std::this_thread::sleep_for(options_.pause);
      }
      if (stopped_ || !step()) return;
    }
  }
  bool stopped() const { return stopped_; }

  // Rating-key index entries of events before `cutoff` (the key ends in the event's id),
  // looked at in slices of the index, from where the last slice ended.
  bool index_slice(std::uint64_t cutoff) {
    Txn txn(store_.env(), true);
    std::vector<std::string> doomed;
    bool more = false;
    {
      Cursor cursor(txn, store_.by_rating_key);
      std::size_t looked = 0;
      bool ok = resume_.empty() ? cursor.first() : cursor.seek(resume_);
      for (; ok; ok = cursor.next()) {
        if (++looked > options_.per_txn * 4) {
          more = true;
          break;
        }
        auto key = cursor.key();
        if (key.size() >= 9 && decode_u64(key.substr(key.size() - 8)) < cutoff)
          doomed.emplace_back(key);
        resume_.assign(key);
      }
    }
    for (const auto& key : doomed) txn.del(store_.by_rating_key, key);
    txn.commit();
    return more;
  }

  // Events before `cutoff` with their kind index entries and exchanges, oldest first.
  bool events_slice(std::uint64_t cutoff, PruneCounts& counts) {
    Txn txn(store_.env(), true);
    std::vector<std::pair<std::uint64_t, char>> doomed;  // id, kind
    {
      Cursor cursor(txn, store_.events);
      for (bool ok = cursor.first(); ok && doomed.size() < options_.per_txn; ok = cursor.next()) {
        const std::uint64_t id = decode_u64(cursor.key());
        if (id >= cutoff) break;
        doomed.emplace_back(id, cursor.value().size() > 1 ? cursor.value()[1] : '\0');
      }
    }
    for (auto [id, kind] : doomed) {
      const std::string key = encode_u64(id);
      txn.del(store_.events, key);
      txn.del(store_.by_kind, std::string(1, kind) + key);
      counts.exchanges += txn.del(store_.exchanges, key);
    }
    txn.commit();
    counts.events += doomed.size();
    return doomed.size() == options_.per_txn;
  }

  // Exchanges before `cutoff` whose events stay: the event is written again without its
  // "has an exchange" bit, so that no reader takes the exchange for lost.
  bool exchanges_slice(std::uint64_t cutoff, PruneCounts& counts) {
    Txn txn(store_.env(), true);
    std::vector<std::uint64_t> doomed;
    {
      Cursor cursor(txn, store_.exchanges);
      for (bool ok = cursor.first(); ok && doomed.size() < options_.per_txn; ok = cursor.next()) {
        const std::uint64_t id = decode_u64(cursor.key());
        if (id >= cutoff) break;
        doomed.push_back(id);
      }
    }
    for (auto id : doomed) {
      const std::string key = encode_u64(id);
      txn.del(store_.exchanges, key);
      auto value = txn.get(store_.events, key);
      if (!value) continue;
      auto header = EventHeader::decode(id, *value);
      if (!header || !header->has_exchange) continue;
      header->has_exchange = false;
      const std::string json(value->substr(EventHeader::kSize));
      txn.put(store_.events, key, header->encode(id, json));
    }
    txn.commit();
    counts.exchanges += doomed.size();
    return doomed.size() == options_.per_txn;
  }

 private:
  Store& store_;
  const PruneOptions& options_;
  const std::function<bool()>& keep_going_;
  std::string resume_;
  bool stopped_ = false;
};

}  // namespace

PruneCounts prune(Store& store, std::optional<std::int64_t> events_before_ms,
                  std::optional<std::int64_t> exchanges_before_ms, const PruneOptions& options,
                  const std::function<bool()>& keep_going) {
  PruneCounts counts;
  Pass pass(store, options, keep_going);
  if (events_before_ms) {
    const std::uint64_t cutoff = first_id_at(std::max<std::int64_t>(0, *events_before_ms));
    pass.repeat([&] { return pass.index_slice(cutoff); });
    pass.repeat([&] { return pass.events_slice(cutoff, counts); });
  }
  if (exchanges_before_ms) {
    const std::uint64_t cutoff = first_id_at(std::max<std::int64_t>(0, *exchanges_before_ms));
    pass.repeat([&] { return pass.exchanges_slice(cutoff, counts); });
  }
  return counts;
}

Retention::Retention(Store& store, Options options) : store_(store), options_(options) {}

Retention::~Retention() {
  stop();
}

void Retention::start() {
  if (!options_.events && !options_.exchanges) return;
  thread_ = std::thread([this] { run(); });
}

void Retention::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Retention::wait(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, d, [&] { return stopping_; });
}

void Retention::run() {
  auto keep_going = [this] {
    std::lock_guard lock(mutex_);
    return !stopping_;
  };
  for (auto delay = options_.first_pass; wait(delay); delay = options_.interval) {
    const std::int64_t now = now_ms();
    std::optional<std::int64_t> events, exchanges;
    if (options_.events) events = now - options_.events->count();
    if (options_.exchanges) exchanges = now - options_.exchanges->count();
    try {
      const auto started = std::chrono::steady_clock::now();
      const PruneCounts n = prune(store_, events, exchanges, options_.prune, keep_going);
      events_ += n.events;
      exchanges_ += n.exchanges;
      ++passes_;
      const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - started);
      if (n.events || n.exchanges)
        spdlog::info("retention: deleted {} events and {} exchanges in {} ms", n.events,
                     n.exchanges, took.count());
    } catch (const Error& e) {
      spdlog::warn("retention: pass ended early: {}", e.what());
    }
  }
}

std::string Retention::metrics_text() const {
  std::string out;
  base::PrometheusText p(out);
  p.family("plextap_pruned_total", "counter",
           "Records deleted by retention (--retention, --exchange-retention), by table.");
  p.sample("plextap_pruned_total", {"what", "events"}, events_.load());
  p.sample("plextap_pruned_total", {"what", "exchanges"}, exchanges_.load());
  p.family("plextap_retention_passes_total", "counter", "Retention passes completed.");
  p.sample("plextap_retention_passes_total", passes_.load());
  return out;
}

}  // namespace plextap::store
