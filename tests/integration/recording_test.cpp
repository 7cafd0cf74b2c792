// Recording through the real binary: `plextap serve` in front of a stand-in Plex server
// that answers with realistic payloads (tests/fixtures/plex), then `plextap export` and
// `plextap stats` reading the same store while serve writes it (DESIGN sections 4, 5, 9).
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

// Section 4 and 5: a whole viewing session, once from an app (headers) and once from the
// web app (query parameters in mixed case), exported kind by kind and field by field.
TEST_F(RecordingTest, ClientStoryIsExportedFieldByField) {
  serve_plex_fixtures();
  start();
  const auto t0 = std::chrono::system_clock::now();
  std::this_thread::sleep_for(20ms);
  {
    auto c = https();
    ASSERT_EQ(play_story(*c, kTv), kStoryLength);
  }
  std::this_thread::sleep_for(30ms);
  const auto t1 = std::chrono::system_clock::now();
  std::this_thread::sleep_for(30ms);
  {
    auto c = http();
    ASSERT_EQ(play_story(*c, kWeb), kStoryLength);
  }
  send_probe();
  std::this_thread::sleep_for(30ms);
  const auto t2 = std::chrono::system_clock::now();
  const std::size_t total = 2 * kStoryLength + 1;

  auto all = await_export("events", total);
  ASSERT_EQ(all.size(), total);
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LT(id_of(all[i - 1]), id_of(all[i])) << i;

  auto tv = export_lines("events", {"--client", kTv.id});
  auto web = export_lines("events", {"--client", kWeb.id});
  expect_story(tv, kTv);
  expect_story(web, kWeb);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(tv.size(), kStoryLength);
  ASSERT_EQ(web.size(), kStoryLength);

  const std::string fp_tv = tv[0].str("/user/token_fp"), fp_web = web[0].str("/user/token_fp");
  EXPECT_NE(fp_tv, fp_web) << "two tokens, one fingerprint";
  {
    const auto& probe = all.back();
    SCOPED_TRACE(probe.text());
    EXPECT_EQ(probe.str("/client/id"), "client-probe");
    EXPECT_EQ(probe.str("/kind"), "timeline");
    EXPECT_EQ(probe.str("/path"), "/:/progress");
    EXPECT_EQ(probe.json("/key"), R"("151671")");
    EXPECT_EQ(probe.json("/rating_key"), R"("151671")");
    EXPECT_EQ(probe.str("/user/token_fp"), fp_tv)
        << "same token as a query parameter, other fingerprint";
    EXPECT_FALSE(contains(probe.text(), kTv.token));
  }

  // Every export kind holds its events and only those.
  const std::map<std::string, std::multiset<std::string>> kinds{
      {"timeline",
       {"timeline", "timeline", "timeline", "timeline", "timeline", "timeline", "timeline"}},
      {"scrobbles", {"scrobble", "scrobble", "unscrobble", "unscrobble"}},
      {"ratings", {"rate", "rate"}},
      {"queues", {"playqueue", "playqueue", "playqueue", "playqueue"}},
      {"decisions", {"decision", "decision"}},
      {"searches", {"search", "search", "search", "search"}},
      {"transcodes", {}},
      {"other", {}}};
  for (const auto& [kind, expected] : kinds) {
    std::multiset<std::string> got;
    for (const auto& e : export_lines(kind)) got.insert(e.str("/kind"));
    EXPECT_EQ(got, expected) << "export " << kind;
  }
  {
    auto queues = export_lines("queues");
    ASSERT_EQ(queues.size(), 4u);
    EXPECT_EQ(queues[0].json("/op"), R"("create")");
    EXPECT_EQ(queues[1].json("/op"), R"("get")");
  }

  // CSV: a header naming the flattened columns, then one row per event.
  {
    auto r = cli("export", {"timeline", "--format", "csv"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = split_lines(r.out);
    ASSERT_EQ(lines.size(), 1 + 7u) << r.out;
    auto header = csv_cells(lines[0]);
    auto column = [&](std::string_view name) {
      return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) -
                                      header.begin());
    };
    const std::size_t id_col = column("client.id"), state_col = column("state"),
                      kind_col = column("kind");
    ASSERT_LT(id_col, header.size()) << lines[0];
    ASSERT_LT(state_col, header.size()) << lines[0];
    ASSERT_LT(kind_col, header.size()) << lines[0];
    EXPECT_EQ(header.front(), "id");
    const std::vector<std::pair<std::string, std::string>> rows{
        {kTv.id, "playing"}, {kTv.id, "paused"},   {kTv.id, "stopped"},        {kWeb.id, "playing"},
        {kWeb.id, "paused"}, {kWeb.id, "stopped"}, {"client-probe", "playing"}};
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto cells = csv_cells(lines[1 + i]);
      ASSERT_EQ(cells.size(), header.size()) << lines[1 + i];
      EXPECT_EQ(cells[id_col], rows[i].first) << lines[1 + i];
      EXPECT_EQ(cells[state_col], rows[i].second) << lines[1 + i];
      EXPECT_EQ(cells[kind_col], "timeline");
      EXPECT_FALSE(contains(lines[1 + i], kTv.token) || contains(lines[1 + i], kWeb.token));
    }
  }

  // Time filters: the TV's session before t1, the web app's after.
  {
    auto before = export_lines("events", {"--until", rfc3339_ms(t1)});
    EXPECT_EQ(before.size(), kStoryLength);
    for (const auto& e : before) EXPECT_EQ(e.str("/client/id"), kTv.id);
    auto after = export_lines("events", {"--since", rfc3339_ms(t1)});
    EXPECT_EQ(after.size(), kStoryLength + 1);
    for (const auto& e : after) EXPECT_NE(e.str("/client/id"), kTv.id);
    EXPECT_EQ(export_lines("events", {"--since", rfc3339_ms(t0), "--until", rfc3339_ms(t2)}).size(),
              total);
    EXPECT_EQ(export_lines("events", {"--since", rfc3339_ms(t2)}).size(), 0u);
    auto web_timeline = export_lines("timeline", {"--since", rfc3339_ms(t1), "--client", kWeb.id});
    EXPECT_EQ(web_timeline.size(), 3u);
  }

  // A time that names no real instant is one usage error, never a silently shifted date.
  for (const char* bad :
       {"2026-02-30", "2025-02-29T00:00:00Z", "2026-13-01", "2026-04-31", "2026-11-01T24:00:00Z"}) {
    auto r = cli("export", {"events", "--since", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_TRUE(contains(r.err, bad)) << r.err;
    EXPECT_EQ(r.out, "") << bad;
  }
}

// Section 1: a token is never written to the store, an export or a log.
TEST_F(RecordingTest, TokensAreNeverStoredOrLogged) {
  serve_plex_fixtures();
  TempDir logs;
  start({"--access-log", (logs.path() / "access.log").string()});
  {
    auto c = https();
    play_story(*c, kTv);
  }
  {
    auto c = http();
    play_story(*c, kWeb);
    // The web app's Referer carries the token too.
    auto req = c->request(http::verb::get, "/hubs/search?query=x");
    std::string referer = "http://127.0.0.1:32400/web/index.html#!/search?query=x&X-Plex-Token=";
    referer += kWeb.token;
    req.set(http::field::referer, referer);
    req.set("X-Plex-Client-Identifier", "client-referer");
    EXPECT_EQ(c->send(std::move(req)).result_int(), 200);
  }
  send_probe();
  const std::size_t total = 2 * kStoryLength + 2;
  auto all = await_export("events", total);
  ASSERT_EQ(all.size(), total);
  ASSERT_TRUE(is_fingerprint(all[0].str("/user/token_fp")));
  // The access log is written by a background thread: wait for every line.
  ASSERT_TRUE(wait_until(
      [&] { return split_lines(read_file(logs.path() / "access.log")).size() >= total; }, 5s))
      << read_file(logs.path() / "access.log");

  for (const auto& e : all)
    EXPECT_FALSE(contains(e.text(), kTv.token) || contains(e.text(), kWeb.token));
  std::string store_bytes;
  auto files = files_under(data_dir());
  ASSERT_FALSE(files.empty());
  for (const auto& file : files) {
    auto bytes = read_file(file);
    EXPECT_FALSE(contains(bytes, kTv.token)) << "the TV's token in " << file.filename();
    EXPECT_FALSE(contains(bytes, kWeb.token)) << "the web app's token in " << file.filename();
    if (file.filename() == "data.mdb") store_bytes = std::move(bytes);
  }
  ASSERT_FALSE(store_bytes.empty()) << "no data.mdb under the data directory";
  // The stored exchanges keep the header and the query parameter, their values redacted.
  EXPECT_TRUE(contains(store_bytes, "X-Plex-Token: REDACTED"))
      << "no redacted X-Plex-Token header in the stored exchanges";
  EXPECT_TRUE(contains(store_bytes, "X-Plex-Token=REDACTED"))
      << "no redacted token parameter in the store";
  EXPECT_TRUE(contains(store_bytes, "/web/index.html#!/search?query=x&X-Plex-Token=REDACTED"))
      << "the Referer is not stored redacted";

  const std::string err = proxy->stderr_text(), log = read_file(logs.path() / "access.log");
  EXPECT_FALSE(contains(err, kTv.token) || contains(err, kWeb.token)) << err;
  EXPECT_FALSE(contains(log, kTv.token) || contains(log, kWeb.token)) << log;
  EXPECT_TRUE(contains(log, "REDACTED")) << log;
}

// Section 9: a tapped answer that is no MediaContainer keeps its event, marked.
TEST_F(RecordingTest, UnparseableAnswerKeepsEventWithParseError) {
  Canned unauthorized = canned("text/html", "<html>401</html>");
  unauthorized.status = 401;
  upstream.answer("/hubs/search", unauthorized);
  start();
  auto c = http();
  auto req = as(*c, http::verb::get, "/hubs/search?query=secret+garden&limit=10", kTv);
  auto res = c->send(std::move(req));
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_EQ(res.body(), "<html>401</html>");

  auto ev = await_export("searches", 1);
  ASSERT_EQ(ev.size(), 1u);
  const auto& e = ev[0];
  SCOPED_TRACE(e.text());
  EXPECT_EQ(e.str("/kind"), "search");
  EXPECT_EQ(e.json("/status"), "401");
  EXPECT_EQ(e.str("/method"), "GET");
  EXPECT_EQ(e.str("/path"), "/hubs/search");
  EXPECT_EQ(e.json("/query"), R"("secret garden")");
  EXPECT_EQ(e.json("/limit"), "10");
  EXPECT_EQ(e.str("/client/id"), kTv.id);
  EXPECT_TRUE(is_fingerprint(e.str("/user/token_fp")));
  EXPECT_EQ(e.json("/hubs"), "null");
  EXPECT_EQ(e.json("/results"), "null");
  const std::string error = e.str("/parse_error");
  EXPECT_FALSE(error.empty() || error == kAbsent || error.starts_with("<not a string"))
      << e.json("/parse_error");
  // The raw answer stays with the exchange.
  EXPECT_TRUE(contains(read_file(data_dir() / "store" / "data.mdb"), "<html>401</html>"))
      << "the unparseable body is not kept";
}

// Section 4: --record all keeps every non-media exchange as `other`, bodies included, and
// never media; --record none records nothing.
TEST_F(RecordingTest, RecordAllKeepsApiCallsButNotMedia) {
  const std::string sections =
      R"(<MediaContainer size="1" title1="Plex Library"><Directory key="1" type="movie" title="Films-5b0e91"/></MediaContainer>)";
  std::string media = "\x1a\x45\xdf\xa3 matroska-bytes-c41f77 ";
  while (media.size() < 100'000) media += "MEDIA-PAYLOAD-c41f77 ";
  upstream.answer("/library/sections", canned(std::string(kXml), sections));
  Canned part = canned("video/x-matroska", media);
  part.gzip_when_accepted = false;
  upstream.answer("/library/parts/1/2/file.mkv", part);
  serve_plex_fixtures();
  start({"--record", "all"});
  {
    auto c = http();
    auto res = c->send(as(*c, http::verb::get, "/library/parts/1/2/file.mkv", kTv));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), media);
    res = c->send(as(*c, http::verb::get, "/library/sections?includePreferences=1", kTv));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), sections);
    // A tapped call last: once it is exported, everything before it would be too.
    EXPECT_EQ(c->send(as(*c, http::verb::get, "/:/timeline?ratingKey=1&state=playing&time=1", kTv))
                  .result_int(),
              200);
  }
  auto all = await_export("events", 2);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].str("/kind"), "other");
  EXPECT_EQ(all[1].str("/kind"), "timeline");
  for (const auto& e : all) EXPECT_FALSE(contains(e.str("/path"), "/library/parts")) << e.text();

  auto other = export_lines("other");
  ASSERT_EQ(other.size(), 1u);
  const auto& e = other[0];
  SCOPED_TRACE(e.text());
  EXPECT_EQ(e.json("/op"), "null");
  EXPECT_EQ(e.str("/method"), "GET");
  EXPECT_EQ(e.str("/path"), "/library/sections");
  EXPECT_EQ(e.json("/params"), R"({"includePreferences":"1"})");
  EXPECT_EQ(e.json("/status"), "200");
  EXPECT_EQ(e.str("/client/id"), kTv.id);
  EXPECT_TRUE(is_fingerprint(e.str("/user/token_fp")));
  EXPECT_EQ(e.json("/rating_key"), "null");

  const std::string store_bytes = read_file(data_dir() / "store" / "data.mdb");
  ASSERT_FALSE(store_bytes.empty());
  EXPECT_TRUE(contains(store_bytes, sections)) << "the body of the `other` exchange is not stored";
  EXPECT_FALSE(contains(store_bytes, "c41f77")) << "media bytes in the store";
  EXPECT_FALSE(contains(store_bytes, kTv.token));
}

TEST_F(RecordingTest, RecordNoneRecordsNothingButForwards) {
  serve_plex_fixtures();
  upstream.answer("/library/sections", canned(std::string(kXml), R"(<MediaContainer size="0"/>)"));
  start({"--record", "none"});
  {
    auto c = http();
    auto res =
        c->send(as(*c, http::verb::post, "/:/timeline?ratingKey=1&state=playing&time=1", kTv));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), plex_fixture("timeline.xml"));
    res = c->send(as(*c, http::verb::get, "/hubs/search?query=wallace", kTv));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), plex_fixture("hubs-search.xml"));
    res = c->send(as(*c, http::verb::get, "/library/sections", kTv));
    EXPECT_EQ(res.result_int(), 200);
  }
  EXPECT_EQ(upstream.canned_answers(), 3u);
  std::this_thread::sleep_for(300ms);  // what a writer would have needed
  auto r = cli("export", {"events"});
  EXPECT_EQ(r.out, "") << "recorded with --record none";
  // Without a store export may also say there is none; anything else is wrong.
  if (r.exit_code != 0) {
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(contains(r.err, "no store")) << r.err;
  }
  auto ready = admin_get("/readyz");
  EXPECT_EQ(ready.result_int(), 200)
      << "recording nothing on purpose is not degraded: " << ready.body();
}

// `export --follow` prints events as they are committed and ends cleanly on SIGINT.
TEST_F(RecordingTest, ExportFollowPrintsNewEventsUntilInterrupted) {
  serve_plex_fixtures();
  start();
  auto c = http();
  ASSERT_EQ(
      c->send(as(*c, http::verb::post, "/:/timeline?ratingKey=5&state=playing&time=1000", kTv))
          .result_int(),
      200);
  ASSERT_EQ(await_export("timeline", 1).size(), 1u);

  Child follow({"export", "timeline", "--follow", "--data", data_dir().string()});
  auto lines_out = [&](std::size_t n) {
    return [n](const std::string& out) {
      return std::count(out.begin(), out.end(), '\n') >= static_cast<long>(n);
    };
  };
  ASSERT_TRUE(follow.wait_out(lines_out(1), 5s))
      << "no existing event printed; stderr: " << follow.err();
  std::this_thread::sleep_for(300ms);  // following now, not catching up

  const auto sent = Clock::now();
  ASSERT_EQ(c->send(as(*c, http::verb::put, "/:/timeline?ratingKey=5&state=paused&time=2000", kTv))
                .result_int(),
            200);
  const bool arrived = follow.wait_out(lines_out(2), 2s);
  const auto took = ms_between(sent, Clock::now());
  ASSERT_TRUE(arrived) << "new event not printed within 2 s; output so far:\n" << follow.out();
  RecordProperty("follow_latency_ms", std::to_string(took));

  auto lines = split_lines(follow.out());
  ASSERT_EQ(lines.size(), 2u) << follow.out();
  JsonLine first(lines[0]), second(lines[1]);
  EXPECT_EQ(first.json("/time_ms"), "1000");
  EXPECT_EQ(second.json("/time_ms"), "2000");
  EXPECT_EQ(second.json("/state"), R"("paused")");
  EXPECT_LT(id_of(first), id_of(second));

  follow.signal(SIGINT);
  auto code = follow.wait_exit(3s);
  ASSERT_TRUE(code) << "export --follow still running 3 s after SIGINT";
  EXPECT_EQ(*code, 0) << follow.err();
  EXPECT_EQ(split_lines(follow.out()).size(), 2u) << follow.out();
}

}  // namespace
}  // namespace plextap::itest
