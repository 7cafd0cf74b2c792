#include "enrich/enricher.hpp"

#include <spdlog/spdlog.h>

#include <mutex>
#include <thread>
#include <vector>

#include "base/prometheus.hpp"
#include "capture/classify.hpp"
#include "capture/enrichment_record.hpp"
#include "enrich/accounts.hpp"
#include "enrich/metadata.hpp"

namespace plextap::enrich {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Enricher::Enricher(store::Store& store, store::Writer& writer, MetadataSource& source,
                   Options options)
    : store_(store), writer_(writer), source_(source), options_(options) {}

bool Enricher::needs_fetch(std::string_view key, const std::vector<std::uint64_t>& ids,
                           std::int64_t now) {
  if (options_.refresh) return true;
  auto stored = store_.media(key);
  if (!stored) return true;
  auto entry = capture::MediaEntry::decode(*stored);
  if (!entry) return true;
  const std::int64_t age = now - entry->fetched_at_ms;
  if (entry->status == 200 && !entry->media_json.empty()) {
    if (age >= options_.ttl.count()) return true;
    // Watched state and ratings change with scrobble and rate: fetch again after one.
    std::uint64_t since = store::first_id_at(entry->fetched_at_ms);
    for (auto it = ids.rbegin(); it != ids.rend() && *it >= since; ++it)
      if (auto h = store_.event_header(*it);
          h && h->ts_ms > entry->fetched_at_ms &&
          (h->kind == static_cast<std::uint8_t>(capture::Kind::scrobble) ||
           h->kind == static_cast<std::uint8_t>(capture::Kind::unscrobble) ||
           h->kind == static_cast<std::uint8_t>(capture::Kind::rate)))
        return true;
    return false;
  }
  if (entry->status == 401 || entry->status == 404) return age >= options_.ttl.count();
  // A failure: retry with exponential back-off.
  auto backoff = options_.first_retry.count() << std::min(entry->attempts, 16u);
  return age >= std::min<std::int64_t>(backoff, options_.max_retry.count());
}

void Enricher::resolve_accounts() {
  auto summary_last = store_.last_event_ms();
  if (!summary_last || now_ms() - *summary_last > 120'000) return;
  FetchResult r = source_.fetch_sessions();
  if (r.timed_out) counters_.timeouts.fetch_add(1);
  if (r.status != 200) return;
  for (const auto& a : parse_session_accounts(r.body))
    writer_.submit(std::make_unique<store::KeyedRecord>(
        store::Record::Table::accounts, a.client_id,
        capture::encode_account(a.account_id, a.name, now_ms())));
}

void Enricher::run_once(const std::atomic<bool>& stop) {
  const std::int64_t now = now_ms();
  std::vector<std::string> keys;
  store_.for_each_rating_key([&](std::string_view key, const std::vector<std::uint64_t>& ids) {
    if (!stop && needs_fetch(key, ids, now)) keys.emplace_back(key);
  });
  counters_.pending = keys.size();
  if (keys.empty()) return;

  std::mutex mutex;
  std::size_t next = 0;
  auto last_start = std::chrono::steady_clock::now() - options_.min_interval;
  auto work = [&] {
    for (;;) {
      std::string key;
      {
        std::unique_lock lock(mutex);
        if (next >= keys.size() || stop) return;
        key = keys[next++];
        // Rate: fetches start at least min_interval apart, across all workers.
        auto start = std::max(std::chrono::steady_clock::now(), last_start + options_.min_interval);
        last_start = start;
        lock.unlock();
        std::this_thread::sleep_until(start);
      }
      capture::MediaEntry entry;
      if (auto old = store_.media(key); old)
        if (auto e = capture::MediaEntry::decode(*old)) entry.attempts = e->attempts;
      FetchResult r = source_.fetch(key);
      // Shutdown, not the server: nothing to store, the next run fetches it again.
      if (r.cancelled) return;
      if (r.timed_out) counters_.timeouts.fetch_add(1);
      entry.fetched_at_ms = now_ms();
      entry.status = r.status;
      if (r.status == 200) {
        MediaParse parsed = parse_metadata(r.body);
        if (parsed.error.empty()) {
          entry.media_json = std::move(parsed.media_json);
          entry.attempts = 0;
          counters_.fetched.fetch_add(1);
        } else {
          entry.error = "unparseable metadata: " + parsed.error;
          ++entry.attempts;
          counters_.failed.fetch_add(1);
        }
      } else if (r.status == 401 || r.status == 404) {
        entry.error = "server answered " + std::to_string(r.status);
        counters_.not_found.fetch_add(1);
      } else {
        entry.error = r.error.empty() ? "server answered " + std::to_string(r.status) : r.error;
        ++entry.attempts;
        counters_.failed.fetch_add(1);
        spdlog::warn("enrich: metadata for {} failed: {}", key, entry.error);
      }
      counters_.pending.fetch_sub(1);
      writer_.submit(
          std::make_unique<store::KeyedRecord>(store::Record::Table::media, key, entry.encode()));
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < std::max(1u, options_.concurrency); ++i) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  if (!stop) writer_.flush();  // at shutdown the writer's own deadline bounds the rest
}

std::string Enricher::metrics_text() const {
  const auto& c = counters_;
  auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  std::string out;
  base::PrometheusText text(out);
  text.family("plextap_enrich_fetches_total", "counter", "Metadata fetches, by result.");
  text.sample("plextap_enrich_fetches_total", {"result", "ok"}, v(c.fetched));
  text.sample("plextap_enrich_fetches_total", {"result", "not_found"}, v(c.not_found));
  text.sample("plextap_enrich_fetches_total", {"result", "failed"}, v(c.failed));
  text.family("plextap_enrich_pending", "gauge", "Items waiting for metadata at the last pass.");
  text.sample("plextap_enrich_pending", v(c.pending));
  text.family("plextap_enrich_fetch_timeouts_total", "counter",
              "Enrichment fetches (metadata and /status/sessions) cut off at their deadline; "
              "metadata ones count as failed too.");
  text.sample("plextap_enrich_fetch_timeouts_total", v(c.timeouts));
  return out;
}

}  // namespace plextap::enrich
