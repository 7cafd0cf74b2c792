// Enrichment: for every rating key the recorded events name, fetch the server's
// metadata once per TTL (and again after a scrobble or rating), parse it into the
// `media` object of DESIGN section 6, and store it per rating key. Fetching is bounded
// in concurrency and rate so the server never notices; failures back off and are
// counted; 401 and 404 answers are stored and not retried before the TTL. The stored
// records' layout is capture/enrichment_record's.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "store/store.hpp"
#include "store/writer.hpp"

namespace plextap::enrich {

struct FetchResult {
  unsigned status = 0;  // 0: no answer (connect failure, timeout)
  std::string body;
  std::string error;
  bool timed_out = false;  // the server took longer than the fetch's deadline (a failure)
  bool cancelled = false;  // ended by shutdown: says nothing about the server
};

// Where metadata comes from: the Plex server (enrich/server_client over HTTP), or a test's.
class MetadataSource {
 public:
  virtual ~MetadataSource() = default;
  // GET /library/metadata/{rating_key}?includeGuids=1&includeMarkers=1&includeChapters=1
  virtual FetchResult fetch(const std::string& rating_key) = 0;
  // GET /status/sessions: who is playing now (for user.account_id and user.name).
  virtual FetchResult fetch_sessions() = 0;
};

class Enricher {
 public:
  struct Options {
    std::chrono::milliseconds ttl{24 * 3600 * 1000};
    unsigned concurrency = 2;
    std::chrono::milliseconds min_interval{100};  // between fetches started: at most 10/s
    std::chrono::milliseconds first_retry{30'000};
    std::chrono::milliseconds max_retry{3'600'000};
    bool refresh = false;  // refetch everything, whatever its age
  };
  struct Counters {
    std::atomic<std::uint64_t> fetched{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> not_found{0};  // 401 or 404: stored, not retried before the TTL
    std::atomic<std::uint64_t> pending{0};    // keys waiting at the last pass
    std::atomic<std::uint64_t> timeouts{0};   // fetches (sessions too) cut at their deadline
  };

  Enricher(store::Store& store, store::Writer& writer, MetadataSource& source, Options options);

  // One pass: decides which keys need a fetch, fetches them, hands the results to the
  // writer. Returns after all fetches finished or `stop` became true (no later than the
  // fetches in progress end: cancel them at the source to return at once).
  void run_once(const std::atomic<bool>& stop);
  // Asks the server who is playing and remembers the account of each client (when
  // something was recorded in the last two minutes: someone is watching).
  void resolve_accounts();
  const Counters& counters() const { return counters_; }
  // Prometheus text of the counters, for /metrics.
  std::string metrics_text() const;

 private:
  bool needs_fetch(std::string_view key, const std::vector<std::uint64_t>& ids,
                   std::int64_t now_ms);

  store::Store& store_;
  store::Writer& writer_;
  MetadataSource& source_;
  Options options_;
  Counters counters_;
};

}  // namespace plextap::enrich
