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

#include "tests/integration/fixture.hpp"
#include "tests/integration/recording_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Canned = StandInUpstream::Canned;

constexpr std::string_view kXml = "text/xml;charset=utf-8";
constexpr std::string_view kAbsent = "<absent>";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_fingerprint(const std::string& s) {
  return s.size() == 16 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

std::string json_text(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

// One CSV record (RFC 4180 quoting, no line breaks inside cells).
std::vector<std::string> csv_cells(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted_cell = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted_cell) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted_cell = false;
      } else {
        cells.back() += c;
      }
    } else if (c == '"') {
      quoted_cell = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  return cells;
}

// A canned answer (Canned is filled by name here: designated initializers that leave
// members out trip -Wmissing-field-initializers).
Canned canned(std::string content_type, std::string body, std::string json_body = {}) {
  Canned c;
  c.content_type = std::move(content_type);
  c.body = std::move(body);
  c.json_body = std::move(json_body);
  return c;
}

std::uint64_t id_of(const JsonLine& e) {
  return std::stoull(e.json("/id"));
}

// A Plex client: its identity, sent as headers (apps) or as query parameters in mixed
// letter case (the web app).
struct Who {
  std::string id, product, version, platform, device_name, session, token;
  bool in_query = false;
};

const Who kTv{"client-tv-7d1e40", "Plex for Android (TV)", "10.12.0.1234",         "Android",
              "Living Room TV",   "sess-tv-0a1b",          "xJ3kTvA1b2C3d4E5f6G7", false};
const Who kWeb{
    "client-web-93c2f1",    "Plex Web", "4.118.0", "Chrome", "Chrome on Linux", "sess-web-7e8f",
    "qW9eRtY8uI7oP6aS5dF4", true};

// The play-queue source of the story, as PMS reports it and as the client sends it (uri=).
constexpr std::string_view kQueueSource =
    "library://3bbbe6f7-628f-4983-ae5d-7c05779c4c28/item/%2Flibrary%2Fmetadata%2F284997";
constexpr std::string_view kTimelineQuery =
    "ratingKey=151671&key=%2Flibrary%2Fmetadata%2F151671&duration=634533&playQueueItemID=2211762";

class RecordingTest : public ProxyTest {
 protected:
  fs::path data_dir() const { return proxy->dir() / "data"; }

  // `plextap CMD ARGS --data DIR` against this test's store.
  CliResult cli(const std::string& cmd, std::vector<std::string> args = {}) {
    args.insert(args.begin(), cmd);
    args.push_back("--data");
    args.push_back(data_dir().string());
    return run_plextap(args);
  }

  // `plextap export KIND [extra]` parsed; a failed run or a bad line fails the test.
  std::vector<JsonLine> export_lines(const std::string& kind, std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), kind);
    auto r = cli("export", extra);
    return export_result_lines(r, kind);
  }

  // Polls export until at least `count` lines come out (the writer commits within a few
  // ms), for at most `limit`; returns the last answer.
  std::vector<JsonLine> await_export(const std::string& kind, std::size_t count,
                                     std::vector<std::string> extra = {},
                                     std::chrono::milliseconds limit = 5s) {
    auto deadline = Clock::now() + limit;
    for (;;) {
      auto lines = export_lines(kind, extra);
      if (lines.size() >= count || Clock::now() >= deadline || HasFailure()) return lines;
      std::this_thread::sleep_for(50ms);
    }
  }

  std::string metrics() { return admin_get("/metrics").body(); }

  // PMS's answers for the calls of a viewing session, from the fixtures: XML by default,
  // JSON for `Accept: application/json`, gzip for `Accept-Encoding: gzip`.
  void serve_plex_fixtures() {
    const std::string xml(kXml);
    upstream.answer("/hubs/search",
                    canned(xml, plex_fixture("hubs-search.xml"), plex_fixture("hubs-search.json")));
    Canned queue =
        canned(xml, plex_fixture("playqueue-create.xml"), plex_fixture("playqueue-create.json"));
    upstream.answer("POST", "/playQueues", queue);
    upstream.answer("GET", "/playQueues/9631", queue);
    upstream.answer("/video/:/transcode/universal/decision",
                    canned(xml, plex_fixture("decision.xml"), plex_fixture("decision.json")));
    Canned timeline = canned(xml, plex_fixture("timeline.xml"), plex_fixture("timeline.json"));
    upstream.answer("/:/timeline", timeline);
    upstream.answer("/:/progress", timeline);
    for (const char* path : {"/:/scrobble", "/:/unscrobble", "/:/rate"})
      upstream.answer(path, Canned{});
  }

  // A request of `who`: client parameters and token as headers, or appended to the query.
  static Request as(HttpClient& c, http::verb verb, std::string target, const Who& who) {
    if (who.in_query) {
      target += target.find('?') == std::string::npos ? '?' : '&';
      target += "x-plex-client-identifier=";
      target += url_encode(who.id);
      target += "&X-Plex-Product=";
      target += url_encode(who.product);
      target += "&x-plex-version=";
      target += url_encode(who.version);
      target += "&X-PLEX-PLATFORM=";
      target += url_encode(who.platform);
      target += "&x-Plex-Device-Name=";
      target += url_encode(who.device_name);
      target += "&X-Plex-Session-Identifier=";
      target += url_encode(who.session);
      target += "&X-Plex-Token=";
      target += url_encode(who.token);
    }
    auto req = c.request(verb, target);
    if (!who.in_query) {
      req.set("X-Plex-Client-Identifier", who.id);
      req.set("X-Plex-Product", who.product);
      req.set("X-Plex-Version", who.version);
      req.set("X-Plex-Platform", who.platform);
      req.set("X-Plex-Device-Name", who.device_name);
      req.set("X-Plex-Session-Identifier", who.session);
      req.set("X-Plex-Token", who.token);
    }
    return req;
  }

  // One viewing session of `who`: search twice (XML; gzip JSON), build a play queue (JSON)
  // and read it back (XML), ask for a decision (gzip XML), play / pause / stop, scrobble,
  // unscrobble, rate. Returns the number of requests (kStoryLength).
  static constexpr std::size_t kStoryLength = 11;
  std::size_t play_story(HttpClient& c, const Who& who) {
    std::size_t sent = 0;
    auto send = [&](Request req) {
      ++sent;
      auto res = c.send(std::move(req));
      EXPECT_EQ(res.result_int(), 200) << "request " << sent << " of " << who.id;
      return res;
    };
    {
      auto res = send(
          as(c, http::verb::get, "/hubs/search?query=wallace&limit=8&includeCollections=1", who));
      EXPECT_EQ(res.body(), plex_fixture("hubs-search.xml"));
    }
    {
      auto req = as(c, http::verb::get, "/hubs/search?query=gromit&limit=4", who);
      req.set(http::field::accept, "application/json");
      req.set(http::field::accept_encoding, "gzip, deflate");
      auto res = send(std::move(req));
      EXPECT_EQ(res[http::field::content_encoding], "gzip")
          << "the stand-in did not compress the search";
      EXPECT_EQ(res[http::field::content_type], "application/json");
    }
    {
      std::string target = "/playQueues?type=video&uri=";
      target += url_encode(kQueueSource);
      target += "&shuffle=0&continuous=1&repeat=0&own=1";
      auto req = as(c, http::verb::post, target, who);
      req.set(http::field::accept, "application/json");
      auto res = send(std::move(req));
      EXPECT_EQ(res.body(), plex_fixture("playqueue-create.json"));
    }
    send(as(c, http::verb::get, "/playQueues/9631?own=1", who));
    {
      std::string target =
          "/video/:/transcode/universal/decision?path=%2Flibrary%2Fmetadata%2F151671&mediaIndex=0"
          "&partIndex=0&protocol=hls&directPlay=0&directStream=1&maxVideoBitrate=4000"
          "&videoResolution=1280x720&location=lan";
      // The web app names no transcode session: the session header is the fallback.
      if (!who.in_query) target += "&session=tsess-tv-55aa";
      auto req = as(c, http::verb::get, target, who);
      req.set(http::field::accept_encoding, "gzip");
      auto res = send(std::move(req));
      EXPECT_EQ(res[http::field::content_encoding], "gzip")
          << "the stand-in did not compress the decision";
    }
    const std::pair<http::verb, std::string_view> states[] = {
        {http::verb::post, "&state=playing&time=0"},
        {http::verb::put, "&state=paused&time=61000"},
        {http::verb::get, "&state=stopped&time=62500"}};
    for (const auto& [verb, state] : states) {
      std::string target = "/:/timeline?";
      target += kTimelineQuery;
      target += state;
      send(as(c, verb, target, who));
    }
    send(as(c, http::verb::get, "/:/scrobble?key=151671&identifier=com.plexapp.plugins.library",
            who));
    send(as(c, http::verb::put, "/:/unscrobble?key=151671&identifier=com.plexapp.plugins.library",
            who));
    send(as(c, http::verb::put,
            "/:/rate?key=151671&identifier=com.plexapp.plugins.library&rating=8", who));
    return sent;
  }

  // The fields every event of `who` has.
  static void expect_common(const JsonLine& e, const Who& who, std::string_view kind,
                            std::string_view op, std::string_view method, std::string_view path) {
    auto keys = e.keys("");
    ASSERT_FALSE(keys.empty());
    EXPECT_EQ(keys.front(), "id");
    EXPECT_EQ(e.str("/kind"), kind);
    EXPECT_EQ(e.json("/op"), op.empty() ? std::string("null") : json_text(op));
    EXPECT_EQ(e.str("/method"), method);
    EXPECT_EQ(e.str("/path"), path);
    EXPECT_EQ(e.json("/status"), "200");
    EXPECT_EQ(e.str("/ts").size(), 24u) << e.json("/ts");
    EXPECT_NE(e.json("/latency_ms"), "null");
    EXPECT_TRUE(contains(e.str("/remote_addr"), "127.0.0.1")) << e.json("/remote_addr");
    EXPECT_EQ(e.str("/client/id"), who.id);
    EXPECT_EQ(e.str("/client/product"), who.product);
    EXPECT_EQ(e.str("/client/version"), who.version);
    EXPECT_EQ(e.str("/client/platform"), who.platform);
    EXPECT_EQ(e.str("/client/device_name"), who.device_name);
    EXPECT_EQ(e.str("/client/session"), who.session);
    EXPECT_EQ(e.json("/client/platform_version"), "null");
    EXPECT_EQ(e.json("/client/model"), "null");
    EXPECT_TRUE(is_fingerprint(e.str("/user/token_fp"))) << e.json("/user");
    EXPECT_EQ(e.json("/media"), "null");
    EXPECT_FALSE(e.has("/parse_error")) << e.json("/parse_error");
    EXPECT_FALSE(contains(e.text(), who.token)) << "token in the export";
    for (const auto& name : e.keys("/params"))
      EXPECT_FALSE(iequals(name, "X-Plex-Token")) << "token parameter kept in params";
    if (who.in_query) {
      EXPECT_EQ(e.str("/params/x-plex-client-identifier"), who.id);
      EXPECT_EQ(e.str("/params/X-Plex-Product"), who.product);
    } else {
      for (const auto& name : e.keys("/params"))
        EXPECT_FALSE(iequals(name.substr(0, 7), "X-Plex-"))
            << name << " in params of a header client";
    }
  }

  static void expect_search_answer(const JsonLine& e) {
    EXPECT_EQ(e.json("/hubs"),
              R"([{"hub_identifier":"show","type":"show","size":1,"more":false},)"
              R"({"hub_identifier":"movie","type":"movie","size":2,"more":false},)"
              R"({"hub_identifier":"collection","type":"collection","size":1,"more":false},)"
              R"({"hub_identifier":"actor","type":"actor","size":2,"more":false},)"
              R"({"hub_identifier":"artist","type":"artist","size":0,"more":false},)"
              R"({"hub_identifier":"episode","type":"episode","size":2,"more":false},)"
              R"({"hub_identifier":"playlist","type":"playlist","size":0,"more":false}])");
    EXPECT_EQ(e.json("/result_count"), "8");
    EXPECT_EQ(
        e.json("/results/0"),
        R"({"rating_key":"1975","type":"show","title":"Wallace & Gromit's Cracking Contraptions"})");
    EXPECT_EQ(e.json("/results/1/rating_key"), R"("1973")");
    EXPECT_EQ(e.json("/results/3"),
              R"({"rating_key":null,"type":"tag","title":"Wallace & Gromit Collection"})");
    EXPECT_EQ(e.json("/results/7/rating_key"), R"("1988")");
    EXPECT_EQ(e.json("/results/8"), kAbsent);
    EXPECT_EQ(e.json("/section_id"), "null");
  }

  static void expect_queue_answer(const JsonLine& e) {
    EXPECT_EQ(e.json("/play_queue_id"), "9631");
    EXPECT_EQ(e.str("/source_uri"), kQueueSource);
    EXPECT_EQ(e.json("/items"), R"(["284997","284998","284999"])");
    EXPECT_EQ(e.json("/total_count"), "3");
    EXPECT_EQ(e.json("/selected_item_id"), "2211762");
    EXPECT_EQ(e.json("/selected_rating_key"), R"("284997")");
    EXPECT_EQ(e.json("/shuffled"), "false");
    EXPECT_EQ(e.json("/version"), "1");
  }

  // The 11 events of play_story(), in order.
  void expect_story(const std::vector<JsonLine>& ev, const Who& who) {
    ASSERT_EQ(ev.size(), kStoryLength) << who.id;
    const std::string fp = ev[0].str("/user/token_fp");
    for (const auto& e : ev) {
      SCOPED_TRACE(e.text());
      EXPECT_EQ(e.str("/user/token_fp"), fp) << "one token, one fingerprint";
    }
    for (std::size_t i = 1; i < ev.size(); ++i) EXPECT_LT(id_of(ev[i - 1]), id_of(ev[i]));

    {
      const auto& e = ev[0];
      SCOPED_TRACE(e.text());
      expect_common(e, who, "search", "", "GET", "/hubs/search");
      EXPECT_EQ(e.json("/query"), R"("wallace")");
      EXPECT_EQ(e.json("/limit"), "8");
      EXPECT_EQ(e.str("/params/includeCollections"), "1");
      EXPECT_EQ(e.json("/rating_key"), "null");
      expect_search_answer(e);
    }
    {
      const auto& e = ev[1];  // the JSON answer, gzip-compressed
      SCOPED_TRACE(e.text());
      expect_common(e, who, "search", "", "GET", "/hubs/search");
      EXPECT_EQ(e.json("/query"), R"("gromit")");
      EXPECT_EQ(e.json("/limit"), "4");
      expect_search_answer(e);
    }
    {
      const auto& e = ev[2];  // JSON answer
      SCOPED_TRACE(e.text());
      expect_common(e, who, "playqueue", "create", "POST", "/playQueues");
      expect_queue_answer(e);
      EXPECT_EQ(e.json("/type"), R"("video")");
      EXPECT_EQ(e.json("/shuffle"), "false");
      EXPECT_EQ(e.json("/repeat"), "0");
      EXPECT_EQ(e.json("/continuous"), "true");
      EXPECT_EQ(e.json("/own"), "true");
      EXPECT_EQ(e.json("/rating_key"), R"("284997")");
      EXPECT_EQ(e.str("/params/uri"), kQueueSource);
    }
    {
      const auto& e = ev[3];  // XML answer
      SCOPED_TRACE(e.text());
      expect_common(e, who, "playqueue", "get", "GET", "/playQueues/9631");
      expect_queue_answer(e);
      EXPECT_EQ(e.json("/own"), "true");
      EXPECT_EQ(e.json("/type"), "null");
    }
    {
      const auto& e = ev[4];  // XML answer, gzip-compressed
      SCOPED_TRACE(e.text());
      expect_common(e, who, "decision", "", "GET", "/video/:/transcode/universal/decision");
      EXPECT_EQ(e.json("/rating_key"), R"("151671")");
      EXPECT_EQ(e.json("/protocol"), R"("hls")");
      EXPECT_EQ(e.json("/direct_play"), "false");
      EXPECT_EQ(e.json("/direct_stream"), "true");
      EXPECT_EQ(e.json("/media_index"), "0");
      EXPECT_EQ(e.json("/part_index"), "0");
      EXPECT_EQ(e.json("/max_video_bitrate"), "4000");
      EXPECT_EQ(e.json("/video_resolution"), R"("1280x720")");
      EXPECT_EQ(e.json("/location"), R"("lan")");
      EXPECT_EQ(e.json("/session"), json_text(who.in_query ? who.session : "tsess-tv-55aa"));
      EXPECT_EQ(e.json("/general_decision"),
                R"({"code":1001,"text":"Direct play not available; Conversion OK."})");
      EXPECT_EQ(
          e.json("/direct_play_decision"),
          R"({"code":3000,"text":"App cannot direct play this item. Direct play is disabled."})");
      EXPECT_EQ(e.json("/transcode_decision/code"), "1001");
      EXPECT_EQ(e.json("/mde_decision"), R"({"code":null,"text":null})");
      EXPECT_EQ(
          e.json("/video"),
          R"({"decision":"transcode","codec":"h264","location":"segments-av","bitrate":3419,"width":1280,"height":720})");
      EXPECT_EQ(e.json("/audio/decision"), R"("transcode")");
      EXPECT_EQ(e.json("/audio/codec"), R"("opus")");
      EXPECT_EQ(e.json("/audio/channels"), "2");
      EXPECT_EQ(e.json("/subtitle/decision"), "null");
      EXPECT_EQ(e.json("/chosen_media_id"), "221632");
    }
    const char* methods[] = {"POST", "PUT", "GET"};
    const char* states[] = {"playing", "paused", "stopped"};
    const char* times[] = {"0", "61000", "62500"};
    for (std::size_t i = 0; i < 3; ++i) {
      const auto& e = ev[5 + i];
      SCOPED_TRACE(e.text());
      expect_common(e, who, "timeline", "", methods[i], "/:/timeline");
      EXPECT_EQ(e.json("/state"), json_text(states[i]));
      EXPECT_EQ(e.json("/time_ms"), times[i]);
      EXPECT_EQ(e.json("/duration_ms"), "634533");
      EXPECT_EQ(e.json("/play_queue_item_id"), "2211762");
      EXPECT_EQ(e.json("/key"), R"("/library/metadata/151671")");
      EXPECT_EQ(e.json("/termination_code"), "null");
      EXPECT_EQ(e.json("/rating_key"), R"("151671")");
    }
    {
      const auto& e = ev[8];
      SCOPED_TRACE(e.text());
      expect_common(e, who, "scrobble", "", "GET", "/:/scrobble");
      EXPECT_EQ(e.json("/identifier"), R"("com.plexapp.plugins.library")");
      EXPECT_EQ(e.json("/rating_key"), R"("151671")");
    }
    {
      const auto& e = ev[9];
      SCOPED_TRACE(e.text());
      expect_common(e, who, "unscrobble", "", "PUT", "/:/unscrobble");
      EXPECT_EQ(e.json("/identifier"), R"("com.plexapp.plugins.library")");
      EXPECT_EQ(e.json("/rating_key"), R"("151671")");
    }
    {
      const auto& e = ev[10];
      SCOPED_TRACE(e.text());
      expect_common(e, who, "rate", "", "PUT", "/:/rate");
      EXPECT_EQ(e.json("/rating"), "8");
      EXPECT_EQ(e.json("/rating_key"), R"("151671")");
    }
  }

  // The TV's token once more, from another client and as a lower-case query parameter,
  // on /:/progress (whose key is a bare rating key).
  void send_probe() {
    auto c = http();
    std::string target =
        "/:/"
        "progress?key=151671&time=5000&state=playing&X-Plex-Client-Identifier=client-probe&x-plex-"
        "token=";
    target += kTv.token;
    EXPECT_EQ(c->send(c->request(http::verb::get, target)).result_int(), 200);
  }
};

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
