#include "sink/sink.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <set>
#include <unordered_map>

#include "analytics/export.hpp"
#include "analytics/media_join.hpp"
#include "base/json_writer.hpp"
#include "base/prometheus.hpp"
#include "sink/copy_rows.hpp"
#include "sink/derived_rows.hpp"
#include "sink/pg.hpp"
#include "sink/tables.hpp"

namespace plextap::sink {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kPoll{200};
constexpr std::chrono::seconds kFirstRetry{1}, kLastRetry{30};
// Derived rows are written at most this often while events stream in (each time every
// queue, client and media row is compared with what was written), and when it is caught up.
constexpr std::chrono::seconds kDerivedEvery{1};
// Plays that ended wait in memory at most this many before they are written.
constexpr std::size_t kMaxWaiting = 10'000;
// As the dashboard: events may still be committed this long after the moment they name.
constexpr std::int64_t kSettleMs = 60'000;
// The advisory lock that lets one sink at a time create or complete the schema ("plextap").
constexpr const char* kSchemaLock = "SELECT pg_advisory_xact_lock(126943325058417)";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Creates the schema where it is missing and adds the columns an older plextap did not
// make; refuses a database made by a later one. Returns the SQL applied, if any.
std::string migrate(Connection& db, bool always) {
  db.exec("BEGIN");
  db.query(kSchemaLock);
  std::optional<int> version;
  if (db.query("SELECT to_regclass('sink_schema') IS NOT NULL")[0][0] == "t")
    if (auto v = db.query("SELECT max(version) FROM sink_schema")[0][0]) version = std::stoi(*v);
  if (version && *version > kSchemaVersion)
    throw PgError("the database holds sink schema version " + std::to_string(*version) +
                  ", made by a later plextap; this one knows up to version " +
                  std::to_string(kSchemaVersion));
  std::set<std::string> existing;
  for (const Row& row : db.query(
           "SELECT table_name || '.' || column_name FROM information_schema.columns "
           "WHERE table_schema = current_schema()"))
    existing.insert(*row[0]);
  std::string sql = missing_columns_sql(existing);
  if (always || !version || *version < kSchemaVersion || !sql.empty()) {
    // Tables made now have every column: the ALTERs after them find nothing to add.
    sql = schema_sql() + sql;
    db.exec(sql);
  }
  db.exec("COMMIT");
  return sql;
}

std::string stage_of(const Table& t) {
  return identifier("stage_" + t.name);
}

// Staging tables of this connection for the upserts, emptied by every commit.
void make_stages(Connection& db) {
  std::string sql;
  for (const Table& t : tables())
    if (t.derived)
      sql += "CREATE TEMP TABLE " + stage_of(t) + " (LIKE " + identifier(t.name) +
             ") ON COMMIT DELETE ROWS;\n";
  sql +=
      "CREATE TEMP TABLE stage_outcomes (id bigint, played_rating_key text, "
      "seconds_to_play double precision) ON COMMIT DELETE ROWS;\n";
  db.exec(sql);
}

std::string upsert_sql(const Table& t) {
  std::string set;
  for (const Column& c : t.columns)
    set += (set.empty() ? "" : ", ") + identifier(c.name) + " = EXCLUDED." + identifier(c.name);
  const std::string columns = column_list(t);
  return "INSERT INTO " + identifier(t.name) + " (" + columns + ") SELECT " + columns + " FROM " +
         stage_of(t) + " ON CONFLICT (server_id, row_key) DO UPDATE SET " + set;
}

// One batch's rows, by table: the events and each kind's.
class Batch {
 public:
  explicit Batch(const std::string& server_id) {
    for (const Table& t : tables())
      if (!t.derived) rows_.emplace_back(t, server_id);
  }
  CopyRows& events() { return rows_.front(); }
  CopyRows* of_kind(std::uint8_t kind) {
    const Table* t = table_of_kind(kind);
    if (!t) return nullptr;
    for (CopyRows& r : rows_)
      if (&r.table() == t) return &r;
    return nullptr;
  }
  void copy(Connection& db) {
    for (CopyRows& r : rows_)
      if (r.rows()) db.copy(r.copy_sql(), r.data());
  }
  void clear() {
    for (CopyRows& r : rows_) r.clear();
  }

 private:
  std::vector<CopyRows> rows_;
};

void write_derived(Connection& db, RowEncoder& encoder, const std::string& server_id,
                   const DerivedRows::Changes& changes) {
  std::unordered_map<const Table*, CopyRows> staged;
  for (const auto& [table, json] : changes.rows)
    encoder.add(json, {&staged.try_emplace(table, *table, server_id).first->second});
  for (auto& [table, rows] : staged) {
    db.copy(rows.copy_sql(stage_of(*table)), rows.data());
    db.exec(upsert_sql(*table));
  }
  if (changes.outcomes.empty()) return;
  // What export searches adds to each search, once a play followed it.
  std::string data;
  for (const auto& [id, outcome] : changes.outcomes) {
    data += std::to_string(id) + '\t';
    for (char c : outcome.rating_key)
      if (c != '\t' && c != '\n' && c != '\\' && c != '\r' && c != '\0') data += c;
    data += '\t';
    base::JsonWriter(data).number(static_cast<double>(outcome.ms_to_play) / 1000.0);
    data += '\n';
  }
  db.copy("COPY stage_outcomes FROM STDIN", data);
  db.query(
      "UPDATE searches s SET played = true, played_rating_key = o.played_rating_key, "
      "seconds_to_play = o.seconds_to_play FROM stage_outcomes o "
      "WHERE s.server_id = $1 AND s.id = o.id",
      {server_id});
}

}  // namespace

Sink::Sink(store::Store& store, SinkOptions options)
    : store_(store), options_(std::move(options)) {}

Sink::~Sink() {
  stop();
}

std::string Sink::init(const std::string& url) {
  Connection db(url);
  return migrate(db, true);
}

void Sink::start() {
  thread_ = std::thread([this] { run(); });  // run() retries every failure: nothing escapes
}

void Sink::request_stop() {
  stop_ = true;
  {
    std::lock_guard lock(mutex_);
    if (db_) db_->cancel();
  }
  wake_.notify_all();
}

void Sink::stop() {
  request_stop();
  if (thread_.joinable()) thread_.join();
}

bool Sink::pause(std::chrono::milliseconds how_long) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, how_long, [this] { return stop_.load(); });
}

void Sink::run() {
  auto retry = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstRetry);
  bool ever_connected = false;
  while (!stop_) {
    try {
      replicate();
      connected_ = false;
      return;
    } catch (const std::exception& e) {
      ever_connected = ever_connected || connected_;
      const bool was_connected = connected_.exchange(false);
      if (stop_) return;
      ++errors_;
      if (options_.fail_fast && !ever_connected) throw;
      // A connection that lasted starts the back-off again; one that fails at once does not.
      if (was_connected && Clock::now() - connected_at_ > kLastRetry) retry = kFirstRetry;
      spdlog::warn("sink: {}; trying again in {} s", e.what(), retry.count() / 1000);
      // The lag grows while the database is away: /metrics shows it.
      for (auto waited = std::chrono::milliseconds(0); waited < retry; waited += kFirstRetry) {
        note_lag(replicated_);
        if (!pause(kFirstRetry)) return;
      }
      retry = std::min<std::chrono::milliseconds>(retry * 2, kLastRetry);
    }
  }
}

std::string Sink::wait_for_server_id() {
  if (!options_.server_id.empty()) return options_.server_id;
  bool said = false;
  while (!stop_) {
    if (auto id = store_.meta_value("server_id"); id && !id->empty()) return *id;
    if (!said) spdlog::info("sink: waiting to learn the Plex server's identity");
    said = true;
    pause(std::chrono::seconds(1));
  }
  return {};
}

void Sink::note_lag(std::uint64_t replicated_id) {
  store::EventFilter next;
  next.after_id = replicated_id;
  std::int64_t oldest = -1;
  store_.for_each_event(next, [&](const store::StoredEvent& e) {
    oldest = e.ts_ms;
    return false;
  });
  lag_ms_ = oldest < 0 ? 0 : std::max<std::int64_t>(0, now_ms() - oldest);
}

void Sink::replicate() {
  const std::string server_id = wait_for_server_id();
  if (stop_) return;
  Connection db(options_.url);
  {
    std::lock_guard lock(mutex_);
    db_ = &db;
  }
  struct Forget {
    Sink& s;
    ~Forget() {
      std::lock_guard lock(s.mutex_);
      s.db_ = nullptr;
    }
  } forget{*this};
  connected_ = true;
  connected_at_ = Clock::now();
  migrate(db, false);
  make_stages(db);
  db.query("INSERT INTO sink_progress (server_id, last_id) VALUES ($1, 0) ON CONFLICT DO NOTHING",
           {server_id});
  const std::uint64_t done =
      std::stoull(*db.query("SELECT last_id FROM sink_progress WHERE server_id = $1",
                            {server_id})[0][0]);
  replicated_ = done;
  // Where reading resumes; beyond what the database holds when --since says so.
  std::uint64_t position = done;
  if (options_.since_ms && *options_.since_ms > 0)
    position = std::max(position, store::first_id_at(*options_.since_ms) - 1);
  spdlog::info("sink: replicating Plex server {} into {}, after event {}", server_id,
               shown_url(options_.url), position);

  RowEncoder encoder;
  DerivedRows derived(store_);
  auto commit = [&](std::uint64_t from, std::uint64_t to, std::uint64_t events, Batch* batch,
                    const DerivedRows::Changes& changes) {
    db.exec("BEGIN");
    // First, so that a second sink of the same server waits here, then finds the progress
    // moved and gives up: never a duplicate, whatever runs.
    if (db.execute("UPDATE sink_progress SET last_id = $2, events = events + $4, "
                   "updated_at = now() WHERE server_id = $1 AND last_id = $3",
                   {server_id, std::to_string(to), std::to_string(from),
                    std::to_string(events)}) != 1)
      throw PgError("another sink is replicating Plex server " + server_id +
                    " into this database");
    if (batch) batch->copy(db);
    write_derived(db, encoder, server_id, changes);
    db.exec("COMMIT");
  };

  // What the database has already: the derivation's state is rebuilt from it, its rows
  // written again (an upsert changes nothing that was right).
  store::EventFilter filter;
  filter.since_ms = options_.since_ms;
  while (filter.after_id < done && !stop_) {
    const auto read = analytics::read_events(
        store_, filter, true,
        [&](const store::StoredEvent& e, analytics::Kind kind, const capture::EventFields& f) {
          if (e.id <= done) derived.add(e, kind, f);
        },
        options_.batch_events);
    if (read == filter.after_id) break;
    filter.after_id = read;
    if (derived.waiting() > kMaxWaiting) commit(done, done, 0, nullptr, derived.take(0, false));
  }

  analytics::MediaJoin join(store_);
  Batch batch(server_id);
  std::string record;
  const std::unordered_map<std::uint64_t, analytics::SearchOutcome> no_outcome;
  auto derived_at = Clock::now() - kDerivedEvery;
  while (!stop_) {
    batch.clear();
    std::uint64_t events = 0;
    filter.after_id = position;
    const std::uint64_t read = analytics::read_events(
        store_, filter, true,
        [&](const store::StoredEvent& e, analytics::Kind kind, const capture::EventFields& f) {
          analytics::event_record(record, e, &join);
          CopyRows* of_kind = batch.of_kind(e.kind);
          if (of_kind && kind == analytics::Kind::search) {
            // As export searches writes it: what the search led to is set when a play says.
            encoder.add(record, {&batch.events()});
            record.pop_back();
            record += analytics::search_outcome_fields(no_outcome, e.id) + '}';
            encoder.add(record, {of_kind});
          } else if (of_kind) {
            encoder.add(record, {&batch.events(), of_kind});
          } else {
            encoder.add(record, {&batch.events()});
          }
          derived.add(e, kind, f);
          ++events;
        },
        options_.batch_events);
    const bool caught_up = read == position;
    const bool final = caught_up && options_.once;
    const bool derive = final || derived.waiting() > kMaxWaiting ||
                        Clock::now() - derived_at >= (caught_up ? kDerivedEvery * 5 : kDerivedEvery);
    auto changes = derive ? derived.take(now_ms() - kSettleMs, final) : DerivedRows::Changes{};
    if (derive) derived_at = Clock::now();
    if (events > 0 || read != position || !changes.empty()) {
      commit(replicated_, read, events, &batch, changes);
      replicated_ = read;
    }
    else if (derive)
      db.query("SELECT 1");  // idle: a database gone away shows in plextap_sink_connected
    position = read;
    rows_ += events;
    note_lag(position);
    if (final) return;
    if (caught_up) pause(kPoll);
  }
}

std::string Sink::metrics_text() const {
  std::string out;
  base::PrometheusText m(out);
  m.family("plextap_sink_lag_seconds", "gauge",
           "Age of the oldest event not yet in PostgreSQL (0: the database is caught up)");
  std::string lag = std::to_string(static_cast<double>(lag_ms_.load()) / 1000.0);
  m.sample("plextap_sink_lag_seconds", std::string_view(lag));
  m.family("plextap_sink_rows_total", "counter", "Events committed to PostgreSQL by the sink");
  m.sample("plextap_sink_rows_total", rows_.load());
  m.family("plextap_sink_errors_total", "counter",
           "Failures of the sink's connection or statements (each retried)");
  m.sample("plextap_sink_errors_total", errors_.load());
  m.family("plextap_sink_connected", "gauge", "1 while the sink is connected to PostgreSQL");
  m.sample("plextap_sink_connected", connected_ ? 1 : 0);
  return out;
}

}  // namespace plextap::sink
