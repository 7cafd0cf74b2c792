// The recording tests' common ground: a stand-in Plex server answering with the fixtures
// of a viewing session, two clients (an app sending headers, the web app sending query
// parameters), the story they play through plextap, and the checks of what it exports.
// A test fixture, so it lives in a header: its members are the tests' vocabulary.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/integration/fixture.hpp"
#include "tests/integration/recording_support.hpp"

namespace plextap::itest {

inline constexpr std::string_view kXml = "text/xml;charset=utf-8";
inline constexpr std::string_view kAbsent = "<absent>";

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

inline bool is_fingerprint(const std::string& s) {
  return s.size() == 16 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

inline std::string json_text(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

// One CSV record (RFC 4180 quoting, no line breaks inside cells).
inline std::vector<std::string> csv_cells(const std::string& line) {
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
inline StandInUpstream::Canned canned(std::string content_type, std::string body,
                                      std::string json_body = {}) {
  StandInUpstream::Canned c;
  c.content_type = std::move(content_type);
  c.body = std::move(body);
  c.json_body = std::move(json_body);
  return c;
}

inline std::uint64_t id_of(const JsonLine& e) {
  return std::stoull(e.str("/id"));  // a string: ids exceed 2^53
}

// A Plex client: its identity, sent as headers (apps) or as query parameters in mixed
// letter case (the web app).
struct Who {
  std::string id, product, version, platform, device_name, session, token;
  bool in_query = false;
};

inline const Who kTv{"client-tv-7d1e40", "Plex for Android (TV)", "10.12.0.1234",         "Android",
                     "Living Room TV",   "sess-tv-0a1b",          "xJ3kTvA1b2C3d4E5f6G7", false};
inline const Who kWeb{
    "client-web-93c2f1",    "Plex Web", "4.118.0", "Chrome", "Chrome on Linux", "sess-web-7e8f",
    "qW9eRtY8uI7oP6aS5dF4", true};

// The play-queue source of the story, as PMS reports it and as the client sends it (uri=).
inline constexpr std::string_view kQueueSource =
    "library://3bbbe6f7-628f-4983-ae5d-7c05779c4c28/item/%2Flibrary%2Fmetadata%2F284997";
inline constexpr std::string_view kTimelineQuery =
    "ratingKey=151671&key=%2Flibrary%2Fmetadata%2F151671&duration=634533&playQueueItemID=2211762";

class RecordingTest : public ProxyTest {
 protected:
  using Canned = StandInUpstream::Canned;

  std::filesystem::path data_dir() const { return proxy->dir() / "data"; }

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
                                     std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto lines = export_lines(kind, extra);
      if (lines.size() >= count || std::chrono::steady_clock::now() >= deadline || HasFailure())
        return lines;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
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
      EXPECT_EQ(e.json("/subtitle"), "null");  // the answer has no subtitle stream
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

}  // namespace plextap::itest
