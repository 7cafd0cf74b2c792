// The store's contract: records come back in id (time) order with their kind and time,
// filters by kind and time work, ids continue across reopen, the map grows when full,
// and a store of an unknown schema version is refused.
#include "store/store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "capture/exchange.hpp"
#include "store/writer.hpp"
#include "tests/unit/temp_dir.hpp"

namespace plextap::store {
namespace {

using test_support::TempDir;

class FixedRecord final : public Pending {
 public:
  explicit FixedRecord(Record r) : record_(std::move(r)) {}
  bool build(Record& out) override {
    out = std::move(record_);
    return true;
  }

 private:
  Record record_;
};

Record make(std::uint8_t kind, std::int64_t ts, std::string json, std::string rating_key = {}) {
  Record r;
  r.kind = kind;
  r.ts_ms = ts;
  r.json = std::move(json);
  r.rating_key = std::move(rating_key);
  r.exchange = "x" + std::to_string(ts);
  return r;
}

EventFilter by_kind(std::uint8_t k) {
  EventFilter f;
  f.kind = k;
  return f;
}
EventFilter since(std::int64_t ms) {
  EventFilter f;
  f.since_ms = ms;
  return f;
}
EventFilter until(std::int64_t ms) {
  EventFilter f;
  f.until_ms = ms;
  return f;
}
EventFilter after(std::uint64_t id) {
  EventFilter f;
  f.after_id = id;
  return f;
}

std::vector<StoredEvent> collect(Store& store, EventFilter filter,
                                 std::vector<std::string>& jsons) {
  std::vector<StoredEvent> out;
  store.for_each_event(filter, [&](const StoredEvent& e) {
    jsons.emplace_back(e.json);
    out.push_back(e);
    return true;
  });
  return out;
}

TEST(Store, WritesAndReadsBackInOrder) {
  TempDir dir;
  Store store(dir.path(), false);
  {
    Writer writer(store, {});
    EXPECT_TRUE(writer.submit(std::make_unique<FixedRecord>(make(1, 1000, R"({"a":1})", "42"))));
    EXPECT_TRUE(writer.submit(std::make_unique<FixedRecord>(make(2, 1000, R"({"a":2})"))));
    EXPECT_TRUE(writer.submit(std::make_unique<FixedRecord>(make(1, 3000, R"({"a":3})"))));
    writer.flush();
    EXPECT_EQ(writer.counters().written, 3u);
  }
  std::vector<std::string> jsons;
  auto all = collect(store, {}, jsons);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(jsons, (std::vector<std::string>{R"({"a":1})", R"({"a":2})", R"({"a":3})"}));
  EXPECT_LT(all[0].id, all[1].id);
  EXPECT_EQ(all[0].id, first_id_at(1000));  // id = ts_ms << 16 | sequence
  EXPECT_EQ(all[1].id, first_id_at(1000) + 1);
  EXPECT_EQ(all[2].ts_ms, 3000);
  EXPECT_EQ(store.exchange(all[2].id), "x3000");

  jsons.clear();
  collect(store, by_kind(1), jsons);
  EXPECT_EQ(jsons, (std::vector<std::string>{R"({"a":1})", R"({"a":3})"}));
  jsons.clear();
  collect(store, since(2000), jsons);
  EXPECT_EQ(jsons, (std::vector<std::string>{R"({"a":3})"}));
  jsons.clear();
  collect(store, until(2000), jsons);
  EXPECT_EQ(jsons.size(), 2u);
  jsons.clear();
  collect(store, after(all[1].id), jsons);
  EXPECT_EQ(jsons, (std::vector<std::string>{R"({"a":3})"}));

  auto summary = store.summary();
  EXPECT_EQ(summary.events, 3u);
  EXPECT_EQ(summary.per_kind[1], 2u);
  EXPECT_EQ(summary.per_kind[2], 1u);
  EXPECT_EQ(summary.first_ms, 1000);
  EXPECT_EQ(summary.last_ms, 3000);
}

TEST(Store, IdsContinueAfterReopenEvenWhenTimeGoesBack) {
  TempDir dir;
  std::uint64_t first;
  {
    Store store(dir.path(), false);
    Writer writer(store, {});
    writer.submit(std::make_unique<FixedRecord>(make(1, 5000, "{}")));
    writer.flush();
    first = writer.last_id();
  }
  Store store(dir.path(), false);
  Writer writer(store, {});
  writer.submit(std::make_unique<FixedRecord>(make(1, 4000, "{}")));  // clock stepped back
  writer.flush();
  EXPECT_GT(writer.last_id(), first);
}

TEST(Store, MapGrowsWhenFull) {
  TempDir dir;
  Store store(dir.path(), false);
  store.env().set_map_size(1 << 20);  // 1 MiB: fills after a few hundred records
  Writer writer(store, {});
  std::string big(4000, 'x');
  for (int i = 0; i < 2000; ++i)
    writer.submit(std::make_unique<FixedRecord>(make(1, 1000 + i, "{\"p\":\"" + big + "\"}")));
  writer.flush();
  EXPECT_EQ(writer.counters().written, 2000u);
  EXPECT_EQ(writer.counters().dropped_store_error, 0u);
  EXPECT_GT(store.env().map_size(), std::size_t{1} << 20);
  EXPECT_TRUE(writer.healthy());
}

// LMDB forbids growing the map while another thread of the process has a transaction
// open (the enricher reading while the writer grows it): the resize waits for it.
TEST(Store, MapGrowsOnlyOnceOtherTransactionsEnd) {
  TempDir dir;
  Store store(dir.path(), false);
  std::atomic<bool> reading{false}, read_done{false};
  std::thread reader([&] {
    Txn txn(store.env(), false);
    reading = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    read_done = true;
  });
  while (!reading) std::this_thread::yield();
  const auto before = store.env().map_size();
  store.env().set_map_size(before * 2);
  EXPECT_TRUE(read_done) << "the map grew under an open read transaction";
  reader.join();
  EXPECT_EQ(store.env().map_size(), before * 2);
  Txn after(store.env(), false);  // and transactions go on afterwards
}

// A read inside a read (the enricher looks up media while it walks the rating keys) on a
// thread whose outer transaction a resize waits for must not wait for that resize.
TEST(Store, ANestedReadDoesNotWaitForAResizeWaitingForItsOuterRead) {
  TempDir dir;
  Store store(dir.path(), false);
  std::atomic<bool> outer_open{false};
  std::promise<void> reader_done;
  auto done = reader_done.get_future();
  std::thread reader([&] {
    Txn outer(store.env(), false);
    outer_open = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the resize waits now
    { Txn inner(store.env(), false); }
    reader_done.set_value();
  });
  while (!outer_open) std::this_thread::yield();
  std::thread resizer([&] { store.env().set_map_size(store.env().map_size() * 2); });
  if (done.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ADD_FAILURE() << "the nested read waited for the resize: deadlock";
    std::_Exit(1);
  }
  reader.join();
  resizer.join();
}

TEST(Store, StoreThatCannotGrowDropsAndReportsUnhealthy) {
  TempDir dir;
  Store store(dir.path(), false);
  store.env().set_map_size(1 << 20);
  Writer::Options options;
  options.max_map_size = 1 << 20;  // not allowed to grow
  std::uint64_t dropped;
  {
    Writer writer(store, options);
    std::string big(4000, 'x');
    for (int i = 0; i < 1000; ++i)
      writer.submit(std::make_unique<FixedRecord>(make(1, 1000 + i, "{\"p\":\"" + big + "\"}")));
    writer.flush();
    dropped = writer.counters().dropped_store_error;
    EXPECT_GT(dropped, 0u);
    EXPECT_FALSE(writer.healthy());
  }
  // The count survives although the store itself could not take another write.
  EXPECT_EQ(store.dropped(), dropped);
  EXPECT_EQ(Store(dir.path(), true).summary().dropped, dropped);
}

TEST(Store, FullQueueDropsWithoutBlocking) {
  TempDir dir;
  Store store(dir.path(), false);
  Writer::Options options;
  options.queue_capacity = 4;
  Writer writer(store, options);
  int accepted = 0;
  for (int i = 0; i < 10'000; ++i)
    accepted += writer.submit(std::make_unique<FixedRecord>(make(1, 1000 + i, "{}")));
  writer.flush();
  EXPECT_LT(accepted, 10'000);
  EXPECT_EQ(writer.counters().dropped_queue_full, 10'000u - static_cast<unsigned>(accepted));
  EXPECT_EQ(writer.counters().written, static_cast<unsigned>(accepted));
}

// Work that takes its time to prepare (a big body to decompress, say).
class SlowRecord final : public Pending {
 public:
  explicit SlowRecord(Record r) : record_(std::move(r)) {}
  bool build(Record& out) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    out = std::move(record_);
    return true;
  }

 private:
  Record record_;
};

// stop() commits what it can before its deadline and drops, counts and persists the
// rest instead of making shutdown wait; without a deadline everything is committed.
TEST(Store, StopWithADeadlineDropsWhatIsLeftThen) {
  TempDir dir;
  Store store(dir.path(), false);
  Writer::Options options;
  options.max_batch = 5;  // a batch takes about 100 ms
  Writer writer(store, options);
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(writer.submit(std::make_unique<SlowRecord>(make(1, 1000 + i, "{}"))));
  auto began = std::chrono::steady_clock::now();
  writer.stop(began + std::chrono::milliseconds(300));
  auto took = std::chrono::steady_clock::now() - began;
  EXPECT_LT(took, std::chrono::milliseconds(800)) << "stop() outlived its deadline";
  const auto written = writer.counters().written.load();
  const auto dropped = writer.counters().dropped_shutdown.load();
  EXPECT_GT(written, 0u);
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(written + dropped, 100u);
  EXPECT_EQ(store.summary().events, written);
  EXPECT_EQ(store.dropped(), dropped);
  EXPECT_FALSE(writer.submit(std::make_unique<FixedRecord>(make(1, 5000, "{}"))));
}

TEST(Store, StopWithoutADeadlineCommitsEverything) {
  TempDir dir;
  Store store(dir.path(), false);
  {
    Writer writer(store, {});
    for (int i = 0; i < 20; ++i)
      writer.submit(std::make_unique<SlowRecord>(make(1, 1000 + i, "{}")));
  }  // the destructor
  EXPECT_EQ(store.summary().events, 20u);
  EXPECT_EQ(store.dropped(), 0u);
}

TEST(Store, RefusesUnknownSchemaVersion) {
  TempDir dir;
  {
    Store store(dir.path(), false);
    Txn txn(store.env(), true);
    txn.put(store.meta, "schema_version", "99");
    txn.commit();
  }
  try {
    Store store(dir.path(), true);
    FAIL() << "opened a store of schema version 99";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos);
  }
}

TEST(Store, ReadOnlyOpenOfMissingStoreSaysSo) {
  TempDir dir;
  EXPECT_THROW(Store(dir.path() / "nothing", true), Error);
}

TEST(Exchange, RoundTrips) {
  capture::Exchange e;
  e.ts_ms = 1'700'000'000'123;
  e.latency_us = 4567;
  e.status = 200;
  e.response_truncated = true;
  e.remote_addr = "10.0.0.2";
  e.method = "PUT";
  e.target = "/:/timeline?state=playing&X-Plex-Token=REDACTED";
  e.request_headers = {{"Host", "plex"}, {"Accept", "application/json"}};
  e.request_body = "";
  e.response_headers = {{"Content-Type", "text/xml"}};
  e.response_body = std::string("<MediaContainer/>\0binary", 24);
  auto back = capture::decode_exchange(capture::encode_exchange(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->ts_ms, e.ts_ms);
  EXPECT_EQ(back->latency_us, e.latency_us);
  EXPECT_EQ(back->status, 200u);
  EXPECT_FALSE(back->request_truncated);
  EXPECT_TRUE(back->response_truncated);
  EXPECT_EQ(back->target, e.target);
  EXPECT_EQ(back->request_headers, e.request_headers);
  EXPECT_EQ(back->response_headers, e.response_headers);
  EXPECT_EQ(back->response_body, e.response_body);
  EXPECT_FALSE(capture::decode_exchange("\x02garbage"));
  EXPECT_FALSE(capture::decode_exchange(capture::encode_exchange(e).substr(0, 20)));
}

}  // namespace
}  // namespace plextap::store
