// Operations on a store that lasts: retention (prune) keeps every index consistent and
// never holds the writer up for long, backup copies a consistent store, an older schema
// version is migrated with a copy made first, and the fixture of version 1 reads back.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "capture/exchange.hpp"
#include "store/backup.hpp"
#include "store/migration.hpp"
#include "store/pruner.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"
#include "tests/unit/store_fixture.hpp"
#include "tests/unit/temp_dir.hpp"

namespace plextap::store {
namespace {

using test_support::TempDir;

class Ready final : public Pending {
 public:
  explicit Ready(Record r) : r_(std::move(r)) {}
  bool build(Record& out) override {
    out = std::move(r_);
    return true;
  }

 private:
  Record r_;
};

// Event i at 1000 * (i + 1) ms: kind i % 3, rating key "rk<i % 5>", an exchange.
Record numbered(int i) {
  Record r;
  r.kind = static_cast<std::uint8_t>(i % 3);
  r.ts_ms = 1000 * (i + 1);
  r.json = "{\"i\":" + std::to_string(i) + "}";
  r.rating_key = "rk" + std::to_string(i % 5);
  capture::Exchange e;
  e.ts_ms = r.ts_ms;
  e.method = "GET";
  e.target = "/" + std::to_string(i);
  r.exchange = capture::encode_exchange(e);
  return r;
}

void fill(Store& store, int n) {
  Writer writer(store, {});
  for (int i = 0; i < n; ++i) ASSERT_TRUE(writer.submit(std::make_unique<Ready>(numbered(i))));
  writer.flush();
  ASSERT_EQ(writer.counters().events_written, static_cast<std::uint64_t>(n));
}

std::vector<std::int64_t> times(Store& store, EventFilter filter = {}) {
  std::vector<std::int64_t> out;
  store.for_each_event(filter, [&](const StoredEvent& e) {
    out.push_back(e.ts_ms);
    return true;
  });
  return out;
}

// The whole store read as its check does: no table disagrees with another.
void expect_consistent(Store& store) {
  store.summary([](std::string_view bytes) { return capture::exchange_intact(bytes); });
  EXPECT_EQ(store.damaged_records(), 0u);
  Txn txn(store.env(), false);
  for (MDB_dbi dbi : {store.events, store.by_kind}) {
    MDB_stat a, b;
    mdb_stat(txn.get(), store.events, &a);
    mdb_stat(txn.get(), dbi, &b);
    EXPECT_EQ(a.ms_entries, b.ms_entries);
  }
  // Every rating-key index entry names an event that is there, and every kind one too.
  store.for_each_rating_key([&](std::string_view, const std::vector<std::uint64_t>& ids) {
    for (auto id : ids) EXPECT_TRUE(store.event_header(id)) << "rating key index names " << id;
  });
  // The kind index finds every event once, each under its own kind.
  std::size_t by_kind = 0;
  for (unsigned k = 0; k < 256; ++k) {
    EventFilter f;
    f.kind = static_cast<std::uint8_t>(k);
    store.for_each_event(f, [&](const StoredEvent& e) {
      EXPECT_EQ(e.kind, k);
      ++by_kind;
      return true;
    });
  }
  EXPECT_EQ(by_kind, times(store).size());
}

TEST(Prune, DeletesOldEventsWithTheirIndexesAndExchangesInSmallTransactions) {
  TempDir dir;
  Store store(dir.path() / "store", false);
  fill(store, 100);
  PruneOptions small{7, std::chrono::milliseconds(0)};  // many transactions
  auto n = prune(store, 40'500, std::nullopt, small);
  EXPECT_EQ(n.events, 40u);
  EXPECT_EQ(n.exchanges, 40u);
  auto left = times(store);
  ASSERT_EQ(left.size(), 60u);
  EXPECT_EQ(left.front(), 41'000);
  Txn txn(store.env(), false);
  MDB_stat stat;
  mdb_stat(txn.get(), store.exchanges, &stat);
  EXPECT_EQ(stat.ms_entries, 60u);
  mdb_stat(txn.get(), store.by_rating_key, &stat);
  EXPECT_EQ(stat.ms_entries, 60u);
  txn.abort();
  expect_consistent(store);
  // A second pass has nothing left to do.
  EXPECT_EQ(prune(store, 40'500, std::nullopt, small).events, 0u);
}

TEST(Prune, ExchangesOnlyKeepsTheEventsAndSaysTheirExchangesAreGone) {
  TempDir dir;
  Store store(dir.path() / "store", false);
  fill(store, 30);
  auto n = prune(store, std::nullopt, 10'500, PruneOptions{4, std::chrono::milliseconds(0)});
  EXPECT_EQ(n.events, 0u);
  EXPECT_EQ(n.exchanges, 10u);
  std::size_t with = 0, events = 0;
  store.for_each_event({}, [&](const StoredEvent& e) {
    ++events;
    with += e.has_exchange;
    EXPECT_EQ(e.has_exchange, e.ts_ms > 10'500) << e.ts_ms;
    EXPECT_EQ(store.exchange(e.id).has_value(), e.has_exchange);
    return true;
  });
  EXPECT_EQ(events, 30u);
  EXPECT_EQ(with, 20u);
  expect_consistent(store);  // a missing exchange its event still claimed would be damage
}

TEST(Prune, RunsBesideTheWriterWhichLosesNothing) {
  TempDir dir;
  Store store(dir.path() / "store", false);
  fill(store, 3000);
  Writer writer(store, {});
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int i = 0; i < 2000; ++i) {
      Record r = numbered(i);
      r.ts_ms = 10'000'000 + i;  // newer than what is pruned
      while (!writer.submit(std::make_unique<Ready>(std::move(r)))) writer.flush();
    }
    writer.flush();
    done = true;
  });
  auto n = prune(store, 2'000'000, std::nullopt, PruneOptions{100, std::chrono::milliseconds(1)});
  producer.join();
  EXPECT_TRUE(done);
  EXPECT_EQ(n.events, 1999u);
  EXPECT_EQ(writer.counters().events_written, 2000u);
  EXPECT_EQ(times(store).size(), 3000u - 1999u + 2000u);
  expect_consistent(store);
}

TEST(Backup, CopiesAConsistentCompactedStoreThatOpensAsOne) {
  TempDir dir;
  Store store(dir.path() / "store", false);
  fill(store, 500);
  prune(store, 200'500, std::nullopt, PruneOptions{});  // free pages, which compaction drops
  const auto copy = dir.path() / "restored" / "store";
  std::filesystem::create_directories(copy);
  backup_to_file(store.env(), copy / "data.mdb");
  EXPECT_LT(std::filesystem::file_size(copy / "data.mdb"),
            std::filesystem::file_size(dir.path() / "store" / "data.mdb"));
  for (const auto& entry : std::filesystem::directory_iterator(copy))
    EXPECT_EQ(entry.path().filename(), "data.mdb");  // no temporary file left behind
  Store restored(copy, true);
  EXPECT_EQ(times(restored), times(store));
  expect_consistent(restored);
}

TEST(Backup, AnUnwritablePlaceLeavesNothingAndSaysWhy) {
  TempDir dir;
  Store store(dir.path() / "store", false);
  fill(store, 3);
  EXPECT_THROW(backup_to_file(store.env(), dir.path() / "missing" / "data.mdb"), Error);
}

void set_version(const std::filesystem::path& dir, const std::string& version) {
  Store store(dir, false);
  Txn txn(store.env(), true);
  txn.put(store.meta, "schema_version", version);
  txn.commit();
}

TEST(Migration, AnOlderStoreIsCopiedFirstThenMigratedInPlace) {
  TempDir dir;
  const auto path = dir.path() / "store";
  {
    Store store(path, false);
    fill(store, 20);
  }
  set_version(path, "0");  // as a store of an earlier version would say
  const auto before = [&] {
    Store store(path, true);  // no step between: it reads as it is
    return times(store);
  }();
  Store store(path, false);
  EXPECT_EQ(schema_version(store.env()), kSchemaVersion);
  EXPECT_EQ(times(store), before);
  expect_consistent(store);
  const auto copy = dir.path() / "store.bak-v0";
  ASSERT_TRUE(std::filesystem::exists(copy / "data.mdb"));
  Env old(copy, Env::Options{std::size_t{1} << 20, true});
  EXPECT_EQ(schema_version(old), 0u);  // the copy is the store as it was
  {
    Txn txn(old, false);
    MDB_dbi events = txn.open_db("events");
    MDB_stat stat;
    mdb_stat(txn.get(), events, &stat);
    EXPECT_EQ(stat.ms_entries, 20u);
  }
}

std::atomic<int> g_steps{0};

TEST(Migration, RunsEachStepFromTheOldVersionOnceInOneTransaction) {
  TempDir dir;
  const auto path = dir.path() / "store";
  {
    Store store(path, false);
    fill(store, 5);
  }
  set_version(path, "1");
  Env env(path, Env::Options{});
  static const Migration steps[] = {
      {0, "not for this store", [](Txn&) { g_steps += 100; }},
      {1, "marks",
       [](Txn& txn) {
         ++g_steps;
         txn.put(txn.open_db("meta"), "marked", "yes");
       }},
      {2, "marks again", [](Txn&) { ++g_steps; }},
  };
  EXPECT_FALSE(migrate(env, path, 3, steps).empty());
  EXPECT_EQ(g_steps, 2);
  EXPECT_EQ(schema_version(env), 3u);
  EXPECT_TRUE(migrate(env, path, 3, steps).empty());  // nothing left to do
  EXPECT_EQ(g_steps, 2);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "store.bak-v1" / "data.mdb"));
}

TEST(Migration, ANewerStoreIsRefusedAndLeftAlone) {
  TempDir dir;
  const auto path = dir.path() / "store";
  { Store store(path, false); }
  set_version(path, std::to_string(kSchemaVersion + 1));
  EXPECT_THROW(Store(path, false), Error);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "store.bak-v1"));
}

// The store made by make_store_fixture at schema version 1 (tests/fixtures/store-v1).
TEST(Fixture, TheStoreOfVersion1ReadsBackWhole) {
  TempDir dir;
  const auto path = dir.path() / "store";
  std::filesystem::create_directories(path);
  std::filesystem::copy_file(PLEXTAP_STORE_FIXTURE "/data.mdb", path / "data.mdb");
  const auto expected = test_support::fixture_records();
  for (bool read_only : {true, false}) {
    Store store(path, read_only);
    std::vector<const Record*> events;
    for (const auto& r : expected)
      if (r.table == Record::Table::events) events.push_back(&r);
    std::size_t i = 0;
    store.for_each_event({}, [&](const StoredEvent& e) {
      if (i >= events.size()) return false;
      EXPECT_EQ(e.json, events[i]->json);
      EXPECT_EQ(e.kind, events[i]->kind);
      EXPECT_EQ(e.ts_ms, events[i]->ts_ms);
      EXPECT_EQ(e.has_exchange, !events[i]->exchange.empty());
      if (!events[i]->exchange.empty()) {
        EXPECT_EQ(store.exchange(e.id), events[i]->exchange);
      }
      ++i;
      return true;
    });
    EXPECT_EQ(i, events.size());
    EXPECT_EQ(store.media("1001"), expected[expected.size() - 2].json);
    EXPECT_EQ(store.account("client-1"), expected.back().json);
    std::set<std::string> keys;
    store.for_each_rating_key([&](std::string_view key, const std::vector<std::uint64_t>& ids) {
      keys.emplace(key);
      EXPECT_EQ(ids.size(), 5u);
    });
    EXPECT_EQ(keys, std::set<std::string>{"1001"});
    expect_consistent(store);
  }
}

}  // namespace
}  // namespace plextap::store
