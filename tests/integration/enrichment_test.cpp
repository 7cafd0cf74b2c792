// Enrichment and plays through the real binary: `plextap serve --plex-token` fetching the
// stand-in server's metadata in the background, `plextap enrich` as a one-off pass, and
// `plextap export media|timeline|plays` joining the results (README "Enrichment", "Plays").
//
// Metadata keys of the stand-in:
//   101  movie with two versions, one Dolby Vision profile 8 (metadata-movie-two-versions)
//   202  episode with an intro and two credits markers (metadata-episode-markers)
//   303  a slow item: the movie with string-typed fields, answered after about 1 s
//   404  404 Not Found
//   500  500 (only where a test registers it): a failed fetch
// Long on purpose: the stand-in metadata and the checks that read it belong together.
#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "tests/integration/fixture.hpp"
#include "tests/integration/recording_support.hpp"
#include "tests/integration/tls_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Canned = StandInUpstream::Canned;

constexpr std::string_view kToken = "enrichtoken123";
constexpr std::string_view kMetadataQuery = "?includeGuids=1&includeMarkers=1&includeChapters=1";
// The background enricher starts a pass 3 s after the previous one ended: waiting this long
// after a pass lets at least one more run.
constexpr auto kOnePass = 4s;

std::string metadata_path(std::string_view key) {
  std::string path = "/library/metadata/";
  path += key;
  return path;
}

Canned canned(std::string content_type, std::string body, std::string json_body = {}) {
  Canned c;
  c.content_type = std::move(content_type);
  c.body = std::move(body);
  c.json_body = std::move(json_body);
  return c;
}

class EnrichmentTest : public ProxyTest {
 protected:
  fs::path data_dir() const { return proxy->dir() / "data"; }

  std::string upstream_url() const {
    std::string url = "http://127.0.0.1:";
    url += std::to_string(upstream.port());
    return url;
  }

  // `plextap CMD ARGS --data DIR` against this test's store.
  CliResult cli(const std::string& cmd, std::vector<std::string> args = {}) {
    args.insert(args.begin(), cmd);
    args.push_back("--data");
    args.push_back(data_dir().string());
    return run_plextap(args);
  }

  std::vector<JsonLine> export_lines(const std::string& kind) {
    auto r = cli("export", {kind});
    return export_result_lines(r, kind);
  }

  // `export media` by rating key.
  std::map<std::string, JsonLine> media_entries() {
    std::map<std::string, JsonLine> by_key;
    for (auto& line : export_lines("media")) {
      std::string key = line.str("/rating_key");
      by_key.emplace(std::move(key), std::move(line));
    }
    return by_key;
  }

  // Polls `export media` until every key of `keys` has an entry, for at most `limit`.
  std::map<std::string, JsonLine> await_media(const std::set<std::string>& keys,
                                              std::chrono::milliseconds limit = 15s) {
    auto deadline = Clock::now() + limit;
    for (;;) {
      auto entries = media_entries();
      bool all = std::all_of(keys.begin(), keys.end(),
                             [&](const std::string& k) { return entries.count(k) > 0; });
      if (all || HasFailure()) return entries;
      if (Clock::now() >= deadline) {
        std::string have;
        for (const auto& [k, _] : entries) (have += k) += ' ';
        ADD_FAILURE() << "export media did not name every key within " << limit.count()
                      << " ms; it has: " << have;
        return entries;
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  std::size_t fetches(std::string_view key) const { return upstream.count(metadata_path(key)); }

  std::string metrics() { return admin_get("/metrics").body(); }

  // The stand-in's metadata, and the calls clients make.
  void serve_metadata() {
    const std::string xml = "text/xml;charset=utf-8";
    upstream.answer(metadata_path("101"),
                    canned(xml, plex_fixture("metadata-movie-two-versions.xml"),
                           plex_fixture("metadata-movie-two-versions.json")));
    // JSON only: a fetch that does not ask for JSON gets an empty answer.
    upstream.answer(metadata_path("202"),
                    canned({}, {}, plex_fixture("metadata-episode-markers.json")));
    Canned slow = canned({}, {}, plex_fixture("metadata-movie-strings.json"));
    slow.delay = 1000ms;
    upstream.answer(metadata_path("303"), slow);
    Canned missing = canned("text/html", "<html><body>404 Not Found</body></html>");
    missing.status = 404;
    upstream.answer(metadata_path("404"), missing);

    upstream.answer("/:/timeline",
                    canned(xml, plex_fixture("timeline.xml"), plex_fixture("timeline.json")));
    upstream.answer("/:/scrobble", Canned{});
    upstream.answer("/hubs/search",
                    canned(xml, plex_fixture("hubs-search.xml"), plex_fixture("hubs-search.json")));
  }

  // GET `target` through the plain listener; the answer must be 200.
  void send(HttpClient& c, const std::string& target) {
    auto res = c.send(c.request(http::verb::get, target));
    EXPECT_EQ(res.result_int(), 200) << target;
  }

  static std::string timeline(std::string_view key, std::string_view state, long long time_ms,
                              std::string_view client, long long duration_ms = 5'423'794) {
    std::string t = "/:/timeline?ratingKey=";
    t += key;
    t += "&key=%2Flibrary%2Fmetadata%2F";
    t += key;
    t += "&state=";
    t += state;
    t += "&time=";
    t += std::to_string(time_ms);
    t += "&duration=";
    t += std::to_string(duration_ms);
    t += "&X-Plex-Client-Identifier=";
    t += client;
    return t;
  }

  // Three playing updates per item on four items, one client each.
  void play_four_items(const std::vector<std::string>& keys = {"101", "202", "303", "404"}) {
    auto c = http();
    for (int round = 0; round < 3; ++round)
      for (const auto& key : keys) {
        std::string client = "client-";
        client += key;
        send(*c, timeline(key, "playing", round * 10'000LL, client));
      }
  }

  // serve with a token, three updates on each of the four items, and every item's entry
  // in `export media`.
  std::map<std::string, JsonLine> enrich_four_items() {
    serve_metadata();
    start({"--plex-token", std::string(kToken)});
    play_four_items();
    return await_media({"101", "202", "303", "404"});
  }
};

// README "Enrichment": with a token, serve fetches each recorded item's metadata once, in
// the background, and export joins it; a 404 is stored as such; the token stays secret.
TEST_F(EnrichmentTest, ServeEnrichesRecordedItemsInTheBackground) {
  auto media = enrich_four_items();
  ASSERT_FALSE(HasFailure());

  {  // The movie: two versions, one Dolby Vision profile 8; its guids.
    const JsonLine& e = media.at("101");
    EXPECT_EQ(e.json("/status"), "200") << e.text();
    EXPECT_EQ(e.json("/attempts"), "0");
    EXPECT_EQ(e.json("/error"), "null");
    EXPECT_NE(e.json("/fetched_at_ms"), "<absent>");
    EXPECT_EQ(e.str("/fetched_at").size(), 24u) << e.json("/fetched_at");
    EXPECT_EQ(e.str("/media/type"), "movie");
    EXPECT_EQ(e.str("/media/title"), "Aladdin");
    EXPECT_EQ(e.str("/media/guids/imdb"), "tt0103639");
    EXPECT_EQ(e.json("/media/versions/2"), "<absent>") << e.json("/media/versions");
    int dolby_vision = 0;
    for (const char* v : {"/media/versions/0", "/media/versions/1"}) {
      std::string hdr = e.json(std::string(v) + "/hdr");
      EXPECT_NE(hdr, "<absent>") << e.json("/media/versions");
      if (hdr == "\"dolby_vision\"") {
        ++dolby_vision;
        EXPECT_EQ(e.json(std::string(v) + "/dovi_profile"), "8") << e.json(v);
        EXPECT_EQ(e.str(std::string(v) + "/video_resolution"), "4k") << e.json(v);
      } else {
        EXPECT_EQ(hdr, "null") << e.json(v);
        EXPECT_EQ(e.json(std::string(v) + "/dovi_profile"), "null") << e.json(v);
      }
    }
    EXPECT_EQ(dolby_vision, 1) << e.json("/media/versions");
  }
  {  // The episode: intro and both credits, sorted by start.
    const JsonLine& e = media.at("202");
    EXPECT_EQ(e.json("/status"), "200") << e.text();
    EXPECT_EQ(e.str("/media/type"), "episode");
    EXPECT_EQ(e.str("/media/title"), "Food and Drink");
    EXPECT_EQ(e.json("/media/markers"),
              R"([{"type":"intro","start_ms":990,"end_ms":61061},)"
              R"({"type":"credits","start_ms":1402000,"end_ms":1431500},)"
              R"({"type":"credits","start_ms":1688500,"end_ms":1745792}])");
  }
  {  // Not found: stored with its status, no media, not counted as a failure.
    const JsonLine& e = media.at("404");
    EXPECT_EQ(e.json("/status"), "404") << e.text();
    EXPECT_EQ(e.json("/media"), "null");
    EXPECT_EQ(e.json("/attempts"), "0");
  }
  {  // The slow item: answered after a second, well within the fetch timeout.
    const JsonLine& e = media.at("303");
    EXPECT_EQ(e.json("/status"), "200") << e.text();
    EXPECT_EQ(e.str("/media/title"), "Aladdin");
    EXPECT_EQ(e.json("/media/versions/1/dovi_profile"), "8") << e.json("/media/versions");
  }
  EXPECT_EQ(media.size(), 4u);

  // One fetch per item, and none again on the following pass.
  std::map<std::string, std::size_t> after_first;
  for (const char* key : {"101", "202", "303", "404"}) after_first[key] = fetches(key);
  std::this_thread::sleep_for(kOnePass);
  for (const char* key : {"101", "202", "303", "404"}) {
    EXPECT_EQ(after_first[key], 1u) << "fetches of " << key << " when its entry appeared";
    EXPECT_EQ(fetches(key), 1u) << "fetches of " << key << " one pass later";
    for (const auto& r : upstream.requests_to(metadata_path(key))) {
      EXPECT_EQ(r.method, "GET");
      std::string expected = metadata_path(key);
      expected += kMetadataQuery;
      EXPECT_EQ(r.target, expected);
      EXPECT_EQ(r.header("X-Plex-Token"), kToken) << r.target;
      EXPECT_TRUE(contains(r.header("Accept"), "application/json")) << r.header("Accept");
    }
  }

  std::string text = metrics();
  EXPECT_EQ(metric_value(text, R"(plextap_enrich_fetches_total{result="ok"})"), 3) << text;
  EXPECT_EQ(metric_value(text, R"(plextap_enrich_fetches_total{result="not_found"})"), 1) << text;
  EXPECT_EQ(metric_value(text, R"(plextap_enrich_fetches_total{result="failed"})"), 0) << text;
  EXPECT_EQ(metric_value(text, "plextap_enrich_pending"), 0) << text;

  // The join onto events: every timeline event of 101 carries its media, 404's none.
  auto events = export_lines("timeline");
  std::map<std::string, int> seen;
  for (const auto& e : events) {
    std::string key = e.str("/rating_key");
    ++seen[key];
    if (key == "101") {
      EXPECT_EQ(e.str("/media/title"), "Aladdin") << e.text();
      EXPECT_EQ(e.str("/media/guids/imdb"), "tt0103639");
    } else if (key == "202") {
      EXPECT_EQ(e.str("/media/title"), "Food and Drink") << e.text();
    } else if (key == "404") {
      EXPECT_EQ(e.json("/media"), "null") << e.text();
    }
  }
  EXPECT_EQ(seen["101"], 3);
  EXPECT_EQ(seen["202"], 3);
  EXPECT_EQ(seen["303"], 3);
  EXPECT_EQ(seen["404"], 3);
  EXPECT_EQ(events.size(), 12u);

  // The token is sent, never stored or logged.
  for (const auto& file : files_under(data_dir()))
    EXPECT_FALSE(contains(read_file(file), kToken)) << "token in " << file.filename();
  EXPECT_FALSE(contains(proxy->stderr_text(), kToken)) << "token in stderr";
}

// README "Enrichment": a scrobble makes the item due again (watched state changed); other
// items are left alone, and the refetched item is fetched once, not on every pass.
TEST_F(EnrichmentTest, ScrobbleMakesServeFetchTheItemAgain) {
  auto media = enrich_four_items();
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(fetches("101"), 1u);
  const std::string first_fetch = media.at("101").json("/fetched_at_ms");

  auto c = http();
  send(*c,
       "/:/"
       "scrobble?key=101&identifier=com.plexapp.plugins.library&X-Plex-Client-Identifier=client-"
       "101");
  EXPECT_TRUE(wait_until([&] { return fetches("101") >= 2; }, 2 * kOnePass, 50ms))
      << "101 fetched " << fetches("101") << " times after its scrobble";
  std::this_thread::sleep_for(kOnePass);
  EXPECT_EQ(fetches("101"), 2u) << "refetched more than once after one scrobble";
  EXPECT_EQ(fetches("202"), 1u);
  EXPECT_EQ(fetches("303"), 1u);
  EXPECT_EQ(fetches("404"), 1u);

  auto after = media_entries();
  ASSERT_EQ(after.count("101"), 1u);
  EXPECT_GT(std::stoll(after.at("101").json("/fetched_at_ms")), std::stoll(first_fetch))
      << "the new fetch did not replace the entry";
  EXPECT_EQ(after.at("101").str("/media/title"), "Aladdin");
  std::string text = metrics();
  EXPECT_EQ(metric_value(text, R"(plextap_enrich_fetches_total{result="ok"})"), 4) << text;
}

// README "Enrichment": `plextap enrich` runs one pass over a store recorded without
// enrichment, prints its counts, exits 1 if a fetch failed, and respects the TTL.
TEST_F(EnrichmentTest, EnrichCommandRunsOnePass) {
  serve_metadata();
  Canned broken = canned("text/plain", "internal error");
  broken.status = 500;
  upstream.answer(metadata_path("500"), broken);
  start({"--no-enrich"});
  play_four_items({"101", "202", "404", "500"});
  {  // Everything committed, then serve stops (its writer closes the store).
    auto deadline = Clock::now() + 5s;
    while (export_lines("timeline").size() < 12 && Clock::now() < deadline && !HasFailure())
      std::this_thread::sleep_for(50ms);
  }
  proxy->signal(SIGTERM);
  ASSERT_EQ(proxy->wait_exit(15s), 0);
  for (const char* key : {"101", "202", "404", "500"})
    ASSERT_EQ(fetches(key), 0u) << "serve --no-enrich fetched " << key;
  EXPECT_TRUE(media_entries().empty());

  const std::vector<std::string> args{"--upstream", upstream_url(), "--plex-token", "t"};
  auto first = cli("enrich", args);
  EXPECT_EQ(first.exit_code, 1) << "a failed fetch exits 1; stderr: " << first.err;
  EXPECT_EQ(first.out, "fetched 2, not found 1, failed 1\n") << first.err;
  for (const char* key : {"101", "202", "404", "500"}) {
    EXPECT_EQ(fetches(key), 1u) << key;
    for (const auto& r : upstream.requests_to(metadata_path(key))) {
      EXPECT_EQ(r.header("X-Plex-Token"), "t");
      EXPECT_TRUE(contains(r.header("Accept"), "application/json")) << r.header("Accept");
    }
  }

  auto media = media_entries();
  EXPECT_EQ(media.size(), 4u);
  if (media.count("101")) {
    EXPECT_EQ(media.at("101").json("/status"), "200");
    EXPECT_EQ(media.at("101").str("/media/title"), "Aladdin");
  }
  if (media.count("202")) {
    EXPECT_EQ(media.at("202").json("/status"), "200");
    EXPECT_EQ(media.at("202").json("/media/markers/0/type"), R"("intro")");
  }
  if (media.count("404")) {
    EXPECT_EQ(media.at("404").json("/status"), "404");
    EXPECT_EQ(media.at("404").json("/media"), "null");
    EXPECT_EQ(media.at("404").json("/attempts"), "0");
  }
  if (media.count("500")) {
    const JsonLine& e = media.at("500");
    EXPECT_EQ(e.json("/status"), "500") << e.text();
    EXPECT_EQ(e.json("/media"), "null");
    EXPECT_EQ(e.json("/attempts"), "1");
    EXPECT_NE(e.json("/error"), "null");
  }

  // Within the TTL (and the failed item's back-off) a second pass has nothing to do.
  auto second = cli("enrich", args);
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, "fetched 0, not found 0, failed 0\n") << second.err;
  for (const char* key : {"101", "202", "404", "500"}) EXPECT_EQ(fetches(key), 1u) << key;

  // --refresh fetches everything again, whatever its age.
  std::vector<std::string> refresh = args;
  refresh.push_back("--refresh");
  auto third = cli("enrich", refresh);
  EXPECT_EQ(third.exit_code, 1) << third.err;
  EXPECT_EQ(third.out, "fetched 2, not found 1, failed 1\n") << third.err;
  for (const char* key : {"101", "202", "404", "500"}) EXPECT_EQ(fetches(key), 2u) << key;
  media = media_entries();
  if (media.count("500")) {
    EXPECT_EQ(media.at("500").json("/attempts"), "2");
  }
}

// A server that only speaks TLS (Plex with secure connections required, reached by its
// plex.direct name): enrich verifies it as serve does, against --upstream-ca and the
// --upstream-sni name, and fetches nothing from a server that fails the check.
TEST_F(EnrichmentTest, EnrichFetchesFromHttpsUpstream) {
  serve_metadata();
  start({"--no-enrich"});
  play_four_items({"101", "202"});
  {
    auto deadline = Clock::now() + 5s;
    while (export_lines("timeline").size() < 6 && Clock::now() < deadline && !HasFailure())
      std::this_thread::sleep_for(50ms);
  }
  proxy->signal(SIGTERM);
  ASSERT_EQ(proxy->wait_exit(15s), 0);

  const std::string name = "192-0-2-10.0123456789abcdef.plex.direct";
  TempDir certs;
  issue_certificates(certs.path(), {name});
  TlsFront front(upstream.port(), certs.path() / "server.pem", certs.path() / "server.key");
  const std::vector<std::string> args{
      "--upstream",    "https://127.0.0.1:" + std::to_string(front.port()),
      "--upstream-ca", (certs.path() / "ca.pem").string(),
      "--plex-token",  "t"};

  auto refused = cli("enrich", args);  // the certificate is not for 127.0.0.1
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_EQ(refused.out, "fetched 0, not found 0, failed 2\n") << refused.err;
  EXPECT_EQ(fetches("101") + fetches("202"), 0u);

  auto with_name = args;
  with_name.insert(with_name.end(), {"--upstream-sni", name, "--refresh"});
  auto fetched = cli("enrich", with_name);
  EXPECT_EQ(fetched.exit_code, 0) << fetched.err;
  EXPECT_EQ(fetched.out, "fetched 2, not found 0, failed 0\n") << fetched.err;
  EXPECT_EQ(fetches("101"), 1u);
  EXPECT_EQ(fetches("202"), 1u);
  auto names = front.server_names();
  EXPECT_NE(std::find(names.begin(), names.end(), name), names.end());
  auto media = media_entries();
  ASSERT_EQ(media.count("101"), 1u);
  EXPECT_EQ(media.at("101").str("/media/title"), "Aladdin");
}

// README "Plays": one viewing of the episode, rebuilt from its timeline with the markers
// enrichment found: search, play, skip the intro, pause, resume, jump into the credits and
// stop there, scrobble.
TEST_F(EnrichmentTest, PlayOfEnrichedEpisodeUsesItsMarkers) {
  serve_metadata();
  // The search finds the episode's show (284995, the grandparent enrichment names): the
  // play is that search's.
  upstream.answer("/hubs/search",
                  canned("text/xml;charset=utf-8",
                         R"(<MediaContainer size="1"><Hub hubIdentifier="show" type="show" )"
                         R"(size="1"><Directory ratingKey="284995" type="show" )"
                         R"(title="Men in Kilts"/></Hub></MediaContainer>)"));
  start({"--plex-token", std::string(kToken)});

  // Episode 202: intro 990-61061 ms, credits 1402000-1431500 and 1688500-1745792 ms.
  // Updates ~250 ms apart: a jump of minutes is far beyond what that playing explains.
  const std::string client = "client-plays-5c1a";
  const long long duration = 1'745'792;
  auto update = [&](std::string_view state, long long time_ms) {
    std::string target = timeline("202", state, time_ms, client, duration);
    target += "&playQueueItemID=7001";
    return target;
  };
  std::string search = "/hubs/search?query=food%20and%20drink&limit=10&X-Plex-Client-Identifier=";
  search += client;
  std::string scrobble =
      "/:/scrobble?key=202&identifier=com.plexapp.plugins.library&X-Plex-Client-Identifier=";
  scrobble += client;
  const std::vector<std::string> story{
      search,
      update("playing", 0),
      update("playing", 10'000),
      update("playing", 120'000),  // past the intro's end: skipped
      update("paused", 120'300),
      update("playing", 120'300),
      update("playing", 1'410'000),  // into the first credits, short of their end
      update("stopped", 1'410'250),
      scrobble,
  };
  auto c = http();
  auto began = Clock::now();
  for (std::size_t i = 0; i < story.size(); ++i) {
    if (i) std::this_thread::sleep_for(250ms);
    send(*c, story[i]);
  }
  const auto story_ms = ms_between(began, Clock::now());

  auto media = await_media({"202"});
  ASSERT_EQ(media.count("202"), 1u);
  ASSERT_EQ(media.at("202").json("/status"), "200") << media.at("202").text();

  auto plays = export_lines("plays");
  ASSERT_EQ(plays.size(), 1u);
  const JsonLine& p = plays.front();
  SCOPED_TRACE(p.text());
  EXPECT_EQ(p.str("/client_id"), client);
  EXPECT_EQ(p.str("/rating_key"), "202");
  EXPECT_EQ(p.json("/play_queue_item_id"), "7001");
  EXPECT_EQ(p.str("/ended_by"), "stopped");
  EXPECT_EQ(p.json("/duration_ms"), "1745792");
  EXPECT_EQ(p.json("/max_position_ms"), "1410250");
  EXPECT_EQ(p.json("/pauses"), "1");
  EXPECT_EQ(p.json("/seeks_forward"), "2");
  EXPECT_EQ(p.json("/seeks_back"), "0");
  EXPECT_EQ(p.json("/intro_skipped"), "true");
  EXPECT_EQ(p.json("/credits_skipped"), "false");
  EXPECT_EQ(p.json("/stopped_in_credits"), "true");
  EXPECT_EQ(p.json("/scrobbled"), "true");
  EXPECT_EQ(p.str("/search/query"), "food and drink");
  EXPECT_EQ(p.str("/media/title"), "Food and Drink");
  EXPECT_EQ(p.str("/media/grandparent_title"), "Men in Kilts: A Roadtrip with Sam and Graham");
  const long long watched = std::stoll(p.json("/watched_ms"));
  EXPECT_GT(watched, 0);
  EXPECT_LE(watched, story_ms);
}

}  // namespace
}  // namespace plextap::itest
