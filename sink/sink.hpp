// Replication of the store into PostgreSQL (DESIGN.md section 13). The sink reads the store
// as `export --follow` does, never writes it, and keeps the database's tables (tables.hpp)
// in step: each batch of events goes in one transaction with the id of its last event in
// `sink_progress`, so the database holds every event up to that id exactly once, and a
// sink that starts again (after a kill, a restart of the database, a lost connection)
// resumes right after it. Derived rows are upserted by natural id in the same transactions,
// rebuilt from the store when the sink starts. A database that is down or slow costs the
// sink its lag, nothing else: it retries with back-off, and serve never waits for it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "store/store.hpp"

namespace plextap::sink {

class Connection;

struct SinkOptions {
  std::string url;        // libpq conninfo or postgres:// URI
  std::string server_id;  // empty: the store's (serve learns it from the server)
  std::optional<std::int64_t> since_ms;  // events before are not replicated
  // Replicate what the store holds, end open plays as an export does, and return.
  bool once = false;
  // Return with PgError when the first connection fails (a bad URL or password), instead
  // of retrying: what a command run by hand wants.
  bool fail_fast = false;
  std::size_t batch_events = 20'000;
};

class Sink {
 public:
  Sink(store::Store& store, SinkOptions options);
  ~Sink();
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  // Creates the schema, or completes the one found (`plextap sink --init`); returns the SQL
  // it stands for. Throws PgError.
  static std::string init(const std::string& url);

  // Replicates until stop() (or, with `once`, until the database holds what the store did).
  void run();
  // run() on a thread of its own (serve), and its end: the statement in progress is
  // cancelled, nothing is waited for. request_stop() only asks (serve asks as it starts
  // draining, so that the sink has ended by the time stop() joins it).
  void start();
  void request_stop();
  void stop();

  // plextap_sink_lag_seconds, _rows_total, _errors_total, _connected.
  std::string metrics_text() const;

 private:
  void replicate();
  std::string wait_for_server_id();
  void note_lag(std::uint64_t replicated_id);
  bool pause(std::chrono::milliseconds how_long);

  store::Store& store_;
  SinkOptions options_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;  // guards db_ (for cancel) and the wait below
  std::condition_variable wake_;
  Connection* db_ = nullptr;
  std::thread thread_;
  std::atomic<std::int64_t> lag_ms_{0};
  std::atomic<std::uint64_t> rows_{0}, errors_{0};
  std::atomic<std::uint64_t> replicated_{0};  // the last id the database holds
  std::atomic<bool> connected_{false};
  std::chrono::steady_clock::time_point connected_at_;  // run()'s thread
};

}  // namespace plextap::sink
