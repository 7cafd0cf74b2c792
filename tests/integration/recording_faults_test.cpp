// Recording when things go wrong, through the real binary: SIGKILL in the middle of a
// recording, a store that may not grow, a queue that is full (DESIGN sections 1 and 9).
// Forwarding never suffers, and what was committed is never lost.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <map>
#include <set>
#include <thread>
#include <unordered_set>

#include "tests/integration/recording_story.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Canned = StandInUpstream::Canned;

// Section 9: SIGKILL while recording loses nothing that was committed, and the store opens
// again for export and for a new serve.
TEST_F(RecordingTest, KillDuringRecordingKeepsCommittedEvents) {
  serve_plex_fixtures();
  start();
  constexpr int kRequests = 2000;
  std::atomic<int> claimed{0}, answered{0};
  std::atomic<bool> stop{false};
  std::vector<std::jthread> load;
  for (int t = 0; t < 3; ++t)
    load.emplace_back([&] {
      try {
        auto c = http();
        for (;;) {
          if (stop) return;
          int i = claimed++;
          if (i >= kRequests) return;
          std::string target =
              "/:/"
              "timeline?ratingKey=42&key=%2Flibrary%2Fmetadata%2F42&state=playing&duration=9000000&"
              "time=";
          target += std::to_string(i);
          auto req = c->request(http::verb::post, target);
          req.set("X-Plex-Client-Identifier", "client-load");
          if (c->send(std::move(req)).result_int() != 200) return;
          ++answered;
          std::this_thread::sleep_for(2ms);
        }
      } catch (const std::exception&) {
        // the proxy was killed under this connection
      }
    });

  ASSERT_TRUE(wait_until([&] { return answered >= 300; }, 10s)) << answered.load();
  auto before = cli("export", {"events"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  const auto before_lines = split_lines(before.out);
  ASSERT_FALSE(before_lines.empty());
  const int at_export = answered;
  ASSERT_TRUE(wait_until([&] { return answered >= at_export + 300; }, 10s));
  const int at_kill = answered;
  proxy->signal(SIGKILL);
  auto code = proxy->wait_exit(5s);
  stop = true;
  load.clear();  // joins
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 128 + SIGKILL);
  EXPECT_LT(at_kill, kRequests) << "the load was over before the kill: not a kill during recording";

  auto after = cli("export", {"events"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  const auto after_lines = split_lines(after.out);
  EXPECT_GE(after_lines.size(), before_lines.size());
  EXPECT_LE(after_lines.size(), static_cast<std::size_t>(answered.load()));
  std::uint64_t last_id = 0;
  for (const auto& line : after_lines) {
    try {
      JsonLine e(line);
      auto id = id_of(e);
      EXPECT_GT(id, last_id) << line;
      last_id = id;
      EXPECT_EQ(e.str("/kind"), "timeline") << line;
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
  std::unordered_set<std::string> kept(after_lines.begin(), after_lines.end());
  std::size_t lost = 0;
  for (const auto& line : before_lines)
    if (!kept.count(line)) ++lost;
  EXPECT_EQ(lost, 0u) << "lines exported before the kill are gone or changed";

  // A new serve opens the store and goes on recording after what is there.
  std::string upstream_url = "http://127.0.0.1:";
  upstream_url += std::to_string(upstream.port());
  Child again({"serve", "--listen", "http://127.0.0.1:0", "--admin", "127.0.0.1:0", "--upstream",
               upstream_url, "--data", data_dir().string(), "--threads", "1"});
  const std::string listening = "listening on http://127.0.0.1:";
  ASSERT_TRUE(again.wait_err(
      [&](const std::string& err) {
        return contains(err, "recording analytics calls") && contains(err, listening) &&
               contains(err, "admin on");
      },
      10s))
      << again.err();
  const std::string err = again.err();
  const auto port =
      static_cast<std::uint16_t>(std::stoi(err.substr(err.find(listening) + listening.size())));
  {
    auto c = HttpClient::plain(port, 10s);
    auto req = c->request(http::verb::get, "/:/timeline?ratingKey=42&state=stopped&time=777777");
    req.set("X-Plex-Client-Identifier", "client-after-restart");
    EXPECT_EQ(c->send(std::move(req)).result_int(), 200);
  }
  auto now = await_export("events", after_lines.size() + 1);
  ASSERT_EQ(now.size(), after_lines.size() + 1) << again.err();
  EXPECT_EQ(now.back().str("/client/id"), "client-after-restart");
  EXPECT_EQ(now.back().json("/time_ms"), "777777");
  EXPECT_GT(id_of(now.back()), last_id);
  again.signal(SIGTERM);
  auto again_code = again.wait_exit(10s);
  ASSERT_TRUE(again_code) << "second serve did not stop on SIGTERM";
  EXPECT_EQ(*again_code, 0) << again.err();
}

// Section 9: a store that may not grow drops events, counts them and says so; forwarding
// is untouched.
TEST_F(RecordingTest, FullStoreDropsEventsButForwardsEverything) {
  // A ~60 KiB search answer: far more than a 1 MiB store holds 300 times.
  std::string rows;
  int row_count = 0;
  for (; rows.size() < 60 * 1024; ++row_count) {
    rows += "<Video ratingKey=\"";
    rows += std::to_string(10000 + row_count);
    rows += "\" type=\"movie\" title=\"Padding movie number ";
    rows += std::to_string(row_count);
    rows += "\" year=\"1999\"/>\n";
  }
  std::string big = "<MediaContainer size=\"";
  big += std::to_string(row_count);
  big += "\">\n";
  big += rows;
  big += "</MediaContainer>";
  upstream.answer("/hubs/search", canned(std::string(kXml), big));
  start({"--store-max-size", "1M", "--body-cap", "65536"});

  constexpr int kPerThread = 150;
  std::atomic<int> intact{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 2; ++t)
      threads.emplace_back([&, t] {
        auto c = client(t == 0);
        for (int i = 0; i < kPerThread; ++i) {
          std::string target = "/hubs/search?limit=600&query=pad";
          target += std::to_string(i);
          auto req = c->request(http::verb::get, target);
          req.set("X-Plex-Client-Identifier", "client-big");
          auto res = c->send(std::move(req));
          if (res.result_int() == 200 && res.body() == big) ++intact;
        }
      });
  }
  EXPECT_EQ(intact.load(), 2 * kPerThread) << "answers changed or lost while the store was full";

  // Every request is accounted for once the writer is through: recorded or dropped.
  std::string m;
  long long recorded = -1, store_error = -1, queue_full = -1;
  EXPECT_TRUE(wait_until(
      [&] {
        m = metrics();
        recorded = metric_value(m, "plextap_events_recorded_total");
        store_error = metric_value(m, "plextap_events_dropped_total{reason=\"store_error\"}");
        queue_full = metric_value(m, "plextap_events_dropped_total{reason=\"queue_full\"}");
        return recorded + store_error + queue_full == 2 * kPerThread;
      },
      5s))
      << m;
  EXPECT_GT(store_error, 0) << m;
  EXPECT_EQ(metric_value(m, "plextap_recording_healthy"), 0) << m;
  EXPECT_LT(recorded, 2 * kPerThread) << m;
  auto ready = admin_get("/readyz");
  EXPECT_EQ(ready.result_int(), 503);
  EXPECT_TRUE(contains(ready.body(), "degraded")) << ready.body();

  // `stats` reports the drops from the store.
  std::string stats;
  long long dropped = -1;
  wait_until(
      [&] {
        auto r = cli("stats");
        stats = r.out + r.err;
        auto at = r.out.find("\ndropped");
        if (r.exit_code != 0 || at == std::string::npos) return false;
        dropped = std::atoll(r.out.c_str() + r.out.find_first_of("0123456789", at));
        return dropped > 0;
      },
      3s, 200ms);
  EXPECT_GT(dropped, 0) << stats;

  // What did fit is exported intact.
  auto ev = export_lines("searches");
  EXPECT_EQ(static_cast<long long>(ev.size()), recorded);
  for (const auto& e : ev)
    EXPECT_EQ(e.json("/result_count"), std::to_string(row_count)) << e.text().substr(0, 300);
  expect_still_serving();
}

// Section 1: a full queue drops and counts, never delays or fails a request.
TEST_F(RecordingTest, FullQueueDropsAreCountedAndRequestsAnswered) {
  serve_plex_fixtures();
  start({"--queue", "1"});
  constexpr int kThreads = 16, kPerThread = 10, kTotal = kThreads * kPerThread;
  std::atomic<int> ready{0}, ok{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        auto c = client(t % 2 == 0);
        ++ready;
        while (ready < kThreads) std::this_thread::yield();
        for (int i = 0; i < kPerThread; ++i) {
          std::string target = "/:/timeline?ratingKey=7&state=playing&time=";
          target += std::to_string(t * 1000 + i);
          auto req = c->request(http::verb::get, target);
          std::string id = "client-burst-";
          id += std::to_string(t);
          req.set("X-Plex-Client-Identifier", id);
          auto res = c->send(std::move(req));
          if (res.result_int() == 200 && res.body() == plex_fixture("timeline.xml")) ++ok;
        }
      });
  }
  EXPECT_EQ(ok.load(), kTotal);

  std::string m;
  long long recorded = -1, queue_full = -1, store_error = -1;
  bool settled = wait_until(
      [&] {
        m = metrics();
        recorded = metric_value(m, "plextap_events_recorded_total");
        queue_full = metric_value(m, "plextap_events_dropped_total{reason=\"queue_full\"}");
        store_error = metric_value(m, "plextap_events_dropped_total{reason=\"store_error\"}");
        return recorded + queue_full + store_error == kTotal;
      },
      5s, 50ms);
  EXPECT_TRUE(settled) << "recorded " << recorded << " + dropped " << queue_full << " + "
                       << store_error << " != " << kTotal << "\n"
                       << m;
  EXPECT_GE(queue_full, 0) << m;
  EXPECT_EQ(store_error, 0) << m;
  EXPECT_GT(recorded, 0) << m;
  auto ev = await_export("timeline", static_cast<std::size_t>(std::max(recorded, 0LL)));
  EXPECT_EQ(static_cast<long long>(ev.size()), recorded);
  if (queue_full > 0) {
    EXPECT_EQ(metric_value(m, "plextap_recording_healthy"), 0) << m;
  }
  RecordProperty("queue_full_drops", std::to_string(queue_full));
  expect_still_serving();
}

}  // namespace
}  // namespace plextap::itest
