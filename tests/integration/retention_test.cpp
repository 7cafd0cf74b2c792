// Data that lasts (README "Retention, backup and upgrades"): serve's retention deletes old
// events in the background and counts them in /metrics; `plextap prune` does it by hand
// while serve records; `plextap backup` copies the store while serve records, and the
// copy opens as a store; the fixture store of schema version 1 exports as it did.
#include <atomic>
#include <thread>

#include "tests/integration/recording_story.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class RetentionTest : public RecordingTest {
 protected:
  void SetUp() override {
    Canned answer;
    answer.content_type = "text/xml;charset=utf-8";
    answer.body = R"(<MediaContainer size="0"/>)";
    upstream.answer("/:/timeline", answer);
  }
  void timeline(int rating_key) {
    auto c = http();
    auto target = "/:/timeline?ratingKey=" + std::to_string(rating_key) +
                  "&state=playing&time=1&X-Plex-Client-Identifier=client-ret";
    EXPECT_EQ(c->send(c->request(http::verb::get, target)).result_int(), 200);
  }
  std::vector<std::string> rating_keys(const std::vector<JsonLine>& lines) {
    std::vector<std::string> out;
    for (const auto& l : lines) out.push_back(l.str("/rating_key"));
    return out;
  }
};

TEST_F(RetentionTest, ServeDeletesEventsPastTheRetentionAndCountsThem) {
  start({"--no-enrich", "--retention", "2s"});
  for (int i = 1; i <= 3; ++i) timeline(i);
  ASSERT_EQ(await_export("timeline", 3).size(), 3u);
  // The first pass comes 5 s after start: then all three are older than 2 s.
  long long pruned = -1;
  for (int i = 0; i < 100 && pruned < 3; ++i) {
    std::this_thread::sleep_for(100ms);
    pruned = metric_value(metrics(), "plextap_pruned_total{what=\"events\"}");
  }
  EXPECT_EQ(pruned, 3);
  EXPECT_TRUE(export_lines("timeline").empty());
  EXPECT_TRUE(contains(proxy->stderr_text(), "retention: deleted 3 events"))
      << proxy->stderr_text();
  timeline(4);  // recording goes on
  EXPECT_EQ(rating_keys(await_export("timeline", 1)), std::vector<std::string>{"4"});
  EXPECT_EQ(cli("stats").exit_code, 0);  // the store's own check finds nothing amiss
}

TEST_F(RetentionTest, PruneByHandWhileServeRecords) {
  start({"--no-enrich"});
  for (int i = 1; i <= 3; ++i) timeline(i);
  ASSERT_EQ(await_export("timeline", 3).size(), 3u);
  std::this_thread::sleep_for(20ms);
  const auto cutoff = rfc3339_ms(std::chrono::system_clock::now());
  std::this_thread::sleep_for(20ms);
  timeline(4);
  ASSERT_EQ(await_export("timeline", 4).size(), 4u);
  auto run = cli("prune", {"--before", cutoff});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(contains(run.out, "deleted 3 events")) << run.out;
  timeline(5);
  EXPECT_EQ(rating_keys(await_export("timeline", 2)), (std::vector<std::string>{"4", "5"}));
  auto stats = cli("stats");
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_EQ(cli("prune", {"--before", "not-a-time"}).exit_code, 2);
}

TEST_F(RetentionTest, BackupWhileServeRecordsOpensAsAStore) {
  start({"--no-enrich"});
  for (int i = 1; i <= 20; ++i) timeline(i);
  ASSERT_EQ(await_export("timeline", 20).size(), 20u);
  std::atomic<bool> stop{false};
  std::atomic<int> sent{0};
  std::thread more([&] {
    for (int i = 100; i < 400 && !stop; ++i) {
      timeline(i);
      ++sent;
    }
  });
  const fs::path restored = proxy->dir() / "restored";
  fs::create_directories(restored / "store");
  auto run = cli("backup", {(restored / "store" / "data.mdb").string()});
  stop = true;
  more.join();
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // Everything committed before the backup is in it, and no more than was sent.
  auto copy = run_plextap({"export", "timeline", "--data", restored.string()});
  auto lines = export_result_lines(copy, "timeline");
  EXPECT_GE(lines.size(), 20u);
  EXPECT_LE(lines.size(), 20u + static_cast<std::size_t>(sent.load()));
  auto stats = run_plextap({"stats", "--data", restored.string()});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_EQ(run_plextap({"backup", (proxy->dir() / "no" / "such" / "x.mdb").string(), "--data",
                         data_dir().string()})
                .exit_code,
            1);
}

// tests/fixtures/store-v1 (made by make_store_fixture): exported by this build as written.
TEST(StoreUpgrade, TheFixtureOfVersion1ExportsItsRows) {
  TempDir dir;
  fs::create_directories(dir.path() / "store");
  fs::copy_file(fs::path(PLEXTAP_SOURCE_DIR) / "tests/fixtures/store-v1/data.mdb",
                dir.path() / "store" / "data.mdb");
  auto timeline = export_result_lines(
      run_plextap({"export", "timeline", "--data", dir.path().string()}), "timeline");
  ASSERT_EQ(timeline.size(), 4u);
  for (std::size_t i = 0; i < timeline.size(); ++i) {
    EXPECT_EQ(timeline[i].str("/rating_key"), "1001");
    EXPECT_EQ(timeline[i].json("/time_ms"), std::to_string(i * 10'000));
    EXPECT_EQ(timeline[i].str("/client/product"), "Plex Web");
  }
  auto events = export_result_lines(
      run_plextap({"export", "events", "--data", dir.path().string()}), "events");
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[4].str("/kind"), "scrobble");
  EXPECT_EQ(events[5].str("/kind"), "search");
  EXPECT_EQ(events[5].str("/query"), "café");
  auto stats = run_plextap({"stats", "--data", dir.path().string()});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
}

}  // namespace
}  // namespace plextap::itest
