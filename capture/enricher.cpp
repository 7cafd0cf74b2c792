#include "capture/enricher.hpp"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <thread>
#include <vector>

#include "base/json_writer.hpp"
#include "base/prometheus.hpp"
#include "base/time.hpp"
#include "capture/accounts.hpp"
#include "capture/classify.hpp"
#include "capture/metadata.hpp"

namespace plextap::capture {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class MediaPending final : public store::Pending {
 public:
  MediaPending(std::string key, std::string value)
      : key_(std::move(key)), value_(std::move(value)) {}
  bool build(store::Record& out) override {
    out.table = store::Record::Table::media;
    out.rating_key = std::move(key_);
    out.json = std::move(value_);
    return true;
  }

 private:
  std::string key_, value_;
};

class AccountPending final : public store::Pending {
 public:
  AccountPending(std::string client, std::string value)
      : client_(std::move(client)), value_(std::move(value)) {}
  bool build(store::Record& out) override {
    out.table = store::Record::Table::accounts;
    out.rating_key = std::move(client_);
    out.json = std::move(value_);
    return true;
  }

 private:
  std::string client_, value_;
};

}  // namespace

std::optional<MediaEntry> MediaEntry::decode(std::string_view json) {
  simdjson::dom::parser parser;
  auto doc = parser.parse(json.data(), json.size());
  if (doc.error()) return std::nullopt;
  MediaEntry e;
  auto obj = doc.value();
  if (auto v = obj["fetched_at_ms"].get_int64(); !v.error()) e.fetched_at_ms = v.value();
  if (auto v = obj["status"].get_uint64(); !v.error()) e.status = static_cast<unsigned>(v.value());
  if (auto v = obj["attempts"].get_uint64(); !v.error())
    e.attempts = static_cast<unsigned>(v.value());
  if (auto v = obj["error"].get_string(); !v.error()) e.error = std::string(v.value());
  if (auto v = obj["media"]; !v.error() && !v.is_null()) e.media_json = simdjson::minify(v.value());
  return e;
}

std::string MediaEntry::encode() const {
  std::string out;
  base::JsonWriter w(out);
  w.begin_object();
  w.key("fetched_at");
  w.string(base::rfc3339_ms(fetched_at_ms));
  w.key("fetched_at_ms");
  w.int64(fetched_at_ms);
  w.key("status");
  w.int64(status);
  w.key("attempts");
  w.int64(attempts);
  w.key("error");
  if (error.empty())
    w.null();
  else
    w.string(error);
  w.key("media");
  if (media_json.empty())
    w.null();
  else
    w.raw(media_json);
  w.end_object();
  return out;
}

Enricher::Enricher(store::Store& store, store::Writer& writer, MetadataSource& source,
                   Options options)
    : store_(store), writer_(writer), source_(source), options_(options) {}

bool Enricher::needs_fetch(std::string_view key, const std::vector<std::uint64_t>& ids,
                           std::int64_t now) {
  if (options_.refresh) return true;
  auto stored = store_.media(key);
  if (!stored) return true;
  auto entry = MediaEntry::decode(*stored);
  if (!entry) return true;
  const std::int64_t age = now - entry->fetched_at_ms;
  if (entry->status == 200 && !entry->media_json.empty()) {
    if (age >= options_.ttl.count()) return true;
    // Watched state and ratings change with scrobble and rate: fetch again after one.
    std::uint64_t since = store::first_id_at(entry->fetched_at_ms);
    for (auto it = ids.rbegin(); it != ids.rend() && *it >= since; ++it)
      if (auto h = store_.event_header(*it);
          h && h->ts_ms > entry->fetched_at_ms &&
          (h->kind == static_cast<std::uint8_t>(Kind::scrobble) ||
           h->kind == static_cast<std::uint8_t>(Kind::unscrobble) ||
           h->kind == static_cast<std::uint8_t>(Kind::rate)))
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
  for (const auto& a : parse_session_accounts(r.body)) {
    std::string value;
    base::JsonWriter w(value);
    w.begin_object();
    w.key("account_id");
    if (auto id = a.account_id.find_first_not_of("0123456789");
        id == std::string::npos && a.account_id.size() < 18)
      w.raw(a.account_id);
    else
      w.string(a.account_id);
    w.key("name");
    w.string(a.name);
    w.key("seen_at_ms");
    w.int64(now_ms());
    w.end_object();
    auto record = std::make_unique<AccountPending>(a.client_id, std::move(value));
    writer_.submit(std::move(record));
  }
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
      MediaEntry entry;
      if (auto old = store_.media(key); old)
        if (auto e = MediaEntry::decode(*old)) entry.attempts = e->attempts;
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
      writer_.submit(std::make_unique<MediaPending>(key, entry.encode()));
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < std::max(1u, options_.concurrency); ++i) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  if (!stop) writer_.flush();  // at shutdown the writer's own deadline bounds the rest
}

std::string Enricher::metrics_text() const {
  std::string out;
  base::PrometheusText text(out);
  text.family("plextap_enrich_fetch_timeouts_total", "counter",
              "Enrichment fetches (metadata and /status/sessions) cut off at their deadline; "
              "metadata ones count as failed too.");
  text.sample("plextap_enrich_fetch_timeouts_total",
              counters_.timeouts.load(std::memory_order_relaxed));
  return out;
}

}  // namespace plextap::capture
