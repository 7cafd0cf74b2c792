// The answers of README "Analytics" through the real binary: a viewer searches for a show,
// makes a play queue of it from the result and watches three episodes back to back,
// skipping an intro; `export plays`, `runs`, `queue_outcomes` and `searches` tell it.
#include <thread>

#include "tests/integration/fixture.hpp"
#include "tests/integration/recording_support.hpp"

namespace plextap::itest {
namespace {

using namespace std::chrono_literals;
using Canned = StandInUpstream::Canned;

constexpr std::string_view kToken = "storytoken-81";
constexpr std::string_view kClient = "story-tv-1";
constexpr std::string_view kXml = "text/xml;charset=utf-8";

Canned answer(std::string_view content_type, std::string body, std::string json_body = {}) {
  Canned c;
  c.content_type = content_type;
  c.body = std::move(body);
  c.json_body = std::move(json_body);
  return c;
}

class AnalyticsStoryTest : public ProxyTest {
 protected:
  void SetUp() override {
    // Three episodes of show 284995 (the fixture's season and show keys).
    for (const char* key : {"202", "203", "204"})
      upstream.answer(std::string("/library/metadata/") + key,
                      answer({}, {}, plex_fixture("metadata-episode-markers.json")));
    upstream.answer("/hubs/search",
                    answer(kXml, R"(<MediaContainer size="1"><Hub hubIdentifier="show" )"
                                 R"(type="show" size="1"><Directory ratingKey="284995" )"
                                 R"(type="show" title="Men in Kilts"/></Hub></MediaContainer>)"));
    upstream.answer("/playQueues",
                    answer(kXml, R"(<MediaContainer size="3" playQueueID="55" )"
                                 R"(playQueueSelectedItemID="7001" )"
                                 R"(playQueueSelectedMetadataItemID="202" playQueueShuffled="0" )"
                                 R"(playQueueTotalCount="3" playQueueVersion="1">)"
                                 R"(<Video ratingKey="202" playQueueItemID="7001"/>)"
                                 R"(<Video ratingKey="203" playQueueItemID="7002"/>)"
                                 R"(<Video ratingKey="204" playQueueItemID="7003"/>)"
                                 R"(</MediaContainer>)"));
    upstream.answer("/:/timeline", answer(kXml, R"(<MediaContainer size="0"/>)"));
  }

  CliResult cli(const std::string& cmd, std::vector<std::string> args = {}) {
    args.insert(args.begin(), cmd);
    args.push_back("--data");
    args.push_back((proxy->dir() / "data").string());
    return run_plextap(args);
  }
  std::vector<JsonLine> export_lines(const std::string& kind) {
    return export_result_lines(cli("export", {kind}), kind);
  }

  void send(HttpClient& c, http::verb verb, const std::string& target) {
    auto req = c.request(verb, target);
    req.set("X-Plex-Client-Identifier", std::string(kClient));
    req.set("X-Plex-Product", "Plex for LG");
    req.set("X-Plex-Token", std::string(kToken));
    EXPECT_EQ(c.send(std::move(req)).result_int(), 200) << target;
  }

  void timeline(HttpClient& c, std::string_view key, std::string_view item,
                std::string_view state, long long time_ms) {
    std::string t = "/:/timeline?ratingKey=";
    t += key;
    t += "&key=%2Flibrary%2Fmetadata%2F";
    t += key;
    t += "&state=";
    t += state;
    t += "&time=" + std::to_string(time_ms) + "&duration=1745792&playQueueItemID=";
    t += item;
    send(c, http::verb::get, t);
  }
};

TEST_F(AnalyticsStoryTest, SearchQueueAndABingeAreOneExportEach) {
  start({"--plex-token", std::string(kToken), "--no-server-watch"});
  auto c = http();
  send(*c, http::verb::get, "/hubs/search?query=kilts&limit=10");
  send(*c, http::verb::post,
       "/playQueues?type=video&shuffle=0&uri=server%3A%2F%2Fabc%2Fcom.plexapp.plugins.library"
       "%2Flibrary%2Fmetadata%2F284995");
  const std::pair<const char*, const char*> episodes[] = {
      {"202", "7001"}, {"203", "7002"}, {"204", "7003"}};
  for (const auto& [key, item] : episodes) {
    timeline(*c, key, item, "playing", 0);
    std::this_thread::sleep_for(150ms);
    timeline(*c, key, item, "playing", 120'000);  // past the intro (990-61061 ms): skipped
    std::this_thread::sleep_for(150ms);
    timeline(*c, key, item, "stopped", 120'100);
  }

  // The plays need enrichment (the show, the markers): wait for every item.
  ASSERT_TRUE(wait_until(
      [&] {
        std::size_t enriched = 0;
        for (auto& m : export_lines("media"))
          if (m.json("/status") == "200") ++enriched;
        return enriched == 3 || HasFailure();
      },
      20s, 200ms))
      << proxy->stderr_text();

  auto plays = export_lines("plays");
  ASSERT_EQ(plays.size(), 3u);
  const std::string run_id = plays[0].str("/run_id");
  for (std::size_t i = 0; i < plays.size(); ++i) {
    SCOPED_TRACE(plays[i].text());
    EXPECT_EQ(plays[i].str("/run_id"), run_id);
    EXPECT_EQ(plays[i].json("/run_index"), std::to_string(i));
    // The queue was made from the search's result: every play it started is the search's.
    EXPECT_EQ(plays[i].str("/search/query"), "kilts");
    EXPECT_EQ(plays[i].json("/intro_skipped"), "true");
  }

  auto runs = export_lines("runs");
  ASSERT_EQ(runs.size(), 1u);
  const JsonLine& run = runs[0];
  SCOPED_TRACE(run.text());
  EXPECT_EQ(run.str("/run_id"), run_id);
  EXPECT_EQ(run.str("/client_id"), kClient);
  EXPECT_EQ(run.json("/plays"), "3");
  EXPECT_EQ(run.json("/shows"), "1");
  EXPECT_EQ(run.json("/longest_same_show_streak"), "3");
  EXPECT_EQ(run.json("/binge"), "true");
  EXPECT_EQ(run.json("/intro_skips"), "3");

  auto queues = export_lines("queue_outcomes");
  ASSERT_EQ(queues.size(), 1u);
  const JsonLine& q = queues[0];
  SCOPED_TRACE(q.text());
  EXPECT_EQ(q.str("/play_queue_id"), "55");
  EXPECT_EQ(q.json("/items"), "3");
  EXPECT_EQ(q.json("/items_played"), "3");
  EXPECT_EQ(q.json("/ops/create"), "1");
  EXPECT_EQ(q.json("/shuffled"), "false");
  EXPECT_EQ(q.json("/abandoned"), "false");

  auto searches = export_lines("searches");
  ASSERT_EQ(searches.size(), 1u);
  const JsonLine& s = searches[0];
  SCOPED_TRACE(s.text());
  EXPECT_EQ(s.json("/played"), "true");
  EXPECT_EQ(s.str("/played_rating_key"), "202");
  EXPECT_GE(std::stod(s.json("/seconds_to_play")), 0.0);
  EXPECT_LT(std::stod(s.json("/seconds_to_play")), 60.0);

  // The same answers in the report's views, and on the dashboard's API.
  auto report = cli("report", {"--format", "json"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  // The dashboard reads the store in the background once asked: ask until it has.
  std::string api;
  wait_until(
      [&] {
        api = admin_get("/api/views").body();
        return contains(api, R"(["kilts",)");
      },
      10s, 200ms);
  for (const std::string& body : {report.out, api}) {
    SCOPED_TRACE(body);
    EXPECT_TRUE(contains(body, R"(["kilts",1,1,1,)")) << "search, played, conversion";
    EXPECT_TRUE(contains(body, R"("Men in Kilts: A Roadtrip with Sam and Graham",3,3,1,)"))
        << "three plays of the show, three intro skips, all of them";
    EXPECT_TRUE(contains(body, R"(,"story-tv-1",3,1,3,)")) << "a run of three, one show";
    EXPECT_TRUE(contains(body, R"(["video",1,0,0,0,3,3])")) << "a queue fully played";
  }
}

}  // namespace
}  // namespace plextap::itest
