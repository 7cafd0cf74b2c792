// Plays, clients and coverage through the real binary over a store holding both sides: the
// events are written with store::Writer as the proxy and the server watch write them (the
// records built by capture::build_record and capture::build_server_record), then
// `plextap export plays|clients` and `plextap stats` read them (README "Plays", "Export and
// stats").
#include <gtest/gtest.h>

#include <filesystem>

#include "store/writer.hpp"
#include "tests/bench/synthetic_events.hpp"
#include "tests/integration/recording_support.hpp"
#include "tests/unit/both_sides_records.hpp"
#include "tests/unit/temp_dir.hpp"

namespace plextap::itest {
namespace {

using test_support::notification;
using test_support::snapshot;
using test_support::timeline;

constexpr std::int64_t kT0 = 1'732'449'600'000;  // 2024-11-24T12:00:00.000Z
constexpr std::int64_t kSec = 1000;

class BothSidesTest : public ::testing::Test {
 protected:
  // web-1 plays item 100 through the proxy, which the server announces too; tv-1 plays
  // item 200 talking to the server directly.
  void SetUp() override {
    store::Store store(dir.path() / "store", false);
    store::Writer writer(store, {});
    auto put = [&](store::Record r) {
      ASSERT_TRUE(writer.submit(std::make_unique<bench::Ready>(std::move(r))));
    };
    for (std::int64_t s = 0; s <= 60; s += 10) {
      put(timeline(kT0 + s * kSec, "web-1", "100", "playing", s * kSec, 600 * kSec));
      put(notification(kT0 + s * kSec + 5, "web-1", "100", "playing", s * kSec + 400));
      put(notification(kT0 + s * kSec + 7, "tv-1", "200", "playing", s * kSec, ""));
    }
    put(snapshot(kT0 + 30 * kSec + 9, "web-1", "100", "playing", 30 * kSec, 600 * kSec,
                 {6000, 1, "Ann", "10.0.0.2", "lan"}));
    put(snapshot(kT0 + 30 * kSec + 9, "tv-1", "200", "playing", 30 * kSec, 900 * kSec,
                 {3000, 2, "Bob", "203.0.113.9", "wan"}));
    put(timeline(kT0 + 61 * kSec, "web-1", "100", "stopped", 61 * kSec, 600 * kSec));
    put(notification(kT0 + 61 * kSec + 5, "web-1", "100", "stopped", 61 * kSec));
    put(notification(kT0 + 62 * kSec, "tv-1", "200", "stopped", 62 * kSec, ""));
    writer.flush();
  }

  CliResult cli(std::vector<std::string> args) {
    args.push_back("--data");
    args.push_back(dir.path().string());
    return run_plextap(args);
  }

  test_support::TempDir dir;
};

TEST_F(BothSidesTest, ExportPlaysMergesBothSides) {
  auto plays = export_result_lines(cli({"export", "plays"}), "plays");
  ASSERT_EQ(plays.size(), 2u);
  const JsonLine& web = plays[0].str("/client_id") == "web-1" ? plays[0] : plays[1];
  const JsonLine& tv = plays[0].str("/client_id") == "web-1" ? plays[1] : plays[0];
  EXPECT_EQ(web.str("/source"), "both");
  EXPECT_EQ(web.json("/max_position_ms"), "61000");  // the timeline's
  EXPECT_EQ(web.str("/ended_by"), "stopped");
  EXPECT_EQ(web.json("/user"), R"({"account_id":1,"name":"Ann"})");
  EXPECT_EQ(web.str("/location"), "lan");
  EXPECT_EQ(web.json("/bandwidth_kbps"), "6000");
  EXPECT_EQ(web.str("/player_address"), "10.0.0.2");
  EXPECT_EQ(tv.str("/source"), "server");
  EXPECT_EQ(tv.json("/max_position_ms"), "62000");
  EXPECT_EQ(tv.json("/duration_ms"), "900000");
  EXPECT_EQ(tv.json("/user"), R"({"account_id":2,"name":"Bob"})");
  // The fields rows had before keep their place; the new ones follow.
  auto keys = web.keys("");
  ASSERT_GE(keys.size(), 12u);
  EXPECT_EQ(std::vector<std::string>(keys.end() - 12, keys.end()),
            (std::vector<std::string>{"media", "source", "user", "location", "bandwidth_kbps",
                                      "player_address", "chosen_media_id", "video_resolution",
                                      "hdr", "dovi_profile", "run_id", "run_index"}));
}

TEST_F(BothSidesTest, ExportClientsAndStatsCoverage) {
  auto clients = export_result_lines(cli({"export", "clients"}), "clients");
  ASSERT_EQ(clients.size(), 2u);
  EXPECT_EQ(clients[0].str("/client_id"), "web-1");
  EXPECT_EQ(clients[0].json("/via_proxy"), "true");
  EXPECT_EQ(clients[0].json("/on_server"), "true");
  EXPECT_EQ(clients[0].json("/plays_via_proxy"), "1");
  EXPECT_EQ(clients[1].str("/client_id"), "tv-1");
  EXPECT_EQ(clients[1].json("/via_proxy"), "false");
  EXPECT_EQ(clients[1].str("/product"), "Plex for LG");
  EXPECT_EQ(clients[1].json("/user"), R"({"account_id":2,"name":"Bob"})");
  EXPECT_EQ(clients[1].json("/plays"), "1");
  EXPECT_EQ(clients[1].json("/plays_via_proxy"), "0");
  EXPECT_EQ(clients[1].str("/first_seen"), "2024-11-24T12:00:00.007Z");

  auto csv = cli({"export", "clients", "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  auto lines = split_lines(csv.out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].rfind("client_id,product,platform,device_name,user.account_id,user.name,", 0),
            0u)
      << lines[0];

  auto later = export_result_lines(cli({"export", "clients", "--since", "2024-11-25"}), "clients");
  EXPECT_TRUE(later.empty());

  auto stats = cli({"stats"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("clients     2 seen on the server, 1 of them through the proxy"),
            std::string::npos)
      << stats.out;
  EXPECT_NE(stats.out.find("plays       2 seen on the server, 1 of them through the proxy"),
            std::string::npos)
      << stats.out;
  EXPECT_NE(stats.out.find("bypassing tv-1  Plex for LG  Living Room"), std::string::npos)
      << stats.out;
  EXPECT_EQ(stats.out.find("bypassing web-1"), std::string::npos) << stats.out;

  auto json = cli({"stats", "--format", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  JsonLine coverage(split_lines(json.out).at(0));
  EXPECT_EQ(coverage.json("/coverage/server_clients"), "2");
  EXPECT_EQ(coverage.json("/coverage/server_clients_via_proxy"), "1");
  EXPECT_EQ(coverage.json("/coverage/server_plays"), "2");
  EXPECT_EQ(coverage.json("/coverage/server_plays_via_proxy"), "1");
  EXPECT_EQ(coverage.json("/coverage/bypassing"),
            R"([{"client_id":"tv-1","product":"Plex for LG","device_name":"Living Room"}])");
}

}  // namespace
}  // namespace plextap::itest
