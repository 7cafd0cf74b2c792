// Replay through the real binary (README "Replay"): a client story recorded through
// `serve`, exported as HAR, answered again by `replay serve` from the store and from the
// HAR; `replay send` against a server that answers one call differently and against an
// identical one; pacing; bad sources; the demo that ships with the sample capture.
// Long on purpose: the replay story is one capture, recorded once and replayed every way.
#include <stdio.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>

#include "capture/body_decode.hpp"
#include "tests/integration/fixture.hpp"
#include "tests/integration/recording_support.hpp"
#include "tests/integration/tls_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Canned = StandInUpstream::Canned;

constexpr std::string_view kToken = "replaytoken42";
constexpr std::string_view kSessionsA = R"(<MediaContainer size="0" note="first"/>)";
constexpr std::string_view kSessionsB = R"(<MediaContainer size="1" note="second"/>)";

// `plextap replay serve ARGS` on an http and an https listener and an admin port.
class ReplayServer {
 public:
  explicit ReplayServer(std::vector<std::string> args, bool with_tls = false) {
    std::vector<std::string> all{"replay",  "serve",       "--listen",  "http://127.0.0.1:0",
                                 "--admin", "127.0.0.1:0", "--threads", "2"};
    if (with_tls) all.insert(all.end(), {"--listen", "https://127.0.0.1:0"});
    all.insert(all.end(), args.begin(), args.end());
    child_ = std::make_unique<Child>(all);
    bool up = child_->wait_err(
        [&](const std::string& err) {
          return contains(err, "admin on http://127.0.0.1:") &&
                 (!with_tls || contains(err, "listening on https://"));
        },
        10s);
    if (!up) throw std::runtime_error("replay serve did not start:\n" + child_->err());
    http_port = port_after(child_->err(), "listening on http://127.0.0.1:");
    https_port = port_after(child_->err(), "listening on https://127.0.0.1:");
    admin_port = port_after(child_->err(), "admin on http://127.0.0.1:");
  }
  std::string err() const { return child_->err(); }
  Child& child() { return *child_; }

  std::uint16_t http_port = 0, https_port = 0, admin_port = 0;

 private:
  std::unique_ptr<Child> child_;
};

// What a client got, with the body decoded: a HAR holds decoded bodies, a store the
// bytes as sent, and both must give the client the same content.
struct Answer {
  unsigned status = 0;
  std::string content_type;
  std::string body;
  bool operator==(const Answer&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Answer& a) {
  return os << a.status << " " << a.content_type << " " << a.body.substr(0, 80);
}

struct Step {
  http::verb method;
  std::string target;
};

std::string with_token(std::string target) {
  target += target.find('?') == std::string::npos ? "?" : "&";
  target += "X-Plex-Token=";
  target += kToken;
  return target;
}

// The client story: a search, a play queue, a decision, timeline updates, a scrobble,
// and the same (untapped) call twice, which the server answered differently each time.
const std::vector<Step>& story() {
  static const std::vector<Step> steps{
      {http::verb::get, "/hubs/search?query=wallace&limit=10"},
      {http::verb::post,
       "/playQueues?type=video&uri=server%3A%2F%2Fabc%2Flibrary%2Fmetadata%2F1973"},
      {http::verb::get,
       "/video/:/transcode/universal/decision?path=%2Flibrary%2Fmetadata%2F1973&mediaIndex=0&"
       "protocol=hls&directPlay=0&directStream=1"},
      {http::verb::get, "/status/sessions"},
      {http::verb::post,
       "/:/timeline?ratingKey=1973&key=%2Flibrary%2Fmetadata%2F1973&state=playing&time=0"},
      {http::verb::post,
       "/:/timeline?ratingKey=1973&key=%2Flibrary%2Fmetadata%2F1973&state=playing&time=5000"},
      {http::verb::get, "/status/sessions"},
      {http::verb::put, "/:/scrobble?identifier=com.plexapp.plugins.library&key=1973"},
  };
  return steps;
}

Answer send_step(HttpClient& c, const Step& step, std::uint64_t n) {
  auto req = c.request(step.method, with_token(step.target) + "&_=" + std::to_string(n));
  req.set("X-Plex-Client-Identifier", "replay-test-client");
  req.set("X-Plex-Product", "Plex Web");
  req.set(http::field::accept_encoding, "gzip");
  auto res = c.send(std::move(req));
  Answer a;
  a.status = res.result_int();
  a.content_type = std::string(res[http::field::content_type]);
  auto decoded = capture::decode_body(std::string(res[http::field::content_encoding]), res.body(),
                                      std::size_t{16} << 20);
  a.body = decoded.ok ? decoded.body : res.body();
  return a;
}

// Plays the story; `before(i)` runs before step i (the recording run changes the
// server's answer there).
std::vector<Answer> play(HttpClient& c, const std::function<void(std::size_t)>& before = {}) {
  std::vector<Answer> answers;
  for (std::size_t i = 0; i < story().size(); ++i) {
    if (before) before(i);
    answers.push_back(send_step(c, story()[i], i));
  }
  return answers;
}

Canned xml(std::string_view body) {
  Canned c;
  c.content_type = "text/xml;charset=utf-8";
  c.body = std::string(body);
  return c;
}

void serve_story(StandInUpstream& upstream, std::string_view search_body) {
  upstream.answer("/hubs/search", xml(search_body));
  upstream.answer("/playQueues", xml(plex_fixture("playqueue-create.xml")));
  upstream.answer("/video/:/transcode/universal/decision", xml(plex_fixture("decision.xml")));
  upstream.answer("/:/timeline", xml(R"(<MediaContainer size="0"/>)"));
  upstream.answer("/:/scrobble", Canned{});
  upstream.answer("/status/sessions", xml(kSessionsA));
}

class ReplayTest : public ProxyTest {
 protected:
  void TearDown() override {
    ProxyTest::TearDown();
    if (HasFailure())
      for (auto* r : {from_store.get(), from_har.get()})
        if (r) std::printf("---- replay serve stderr ----\n%s\n", r->err().c_str());
  }

  fs::path data_dir() const { return proxy->dir() / "data"; }
  fs::path har_file() const { return proxy->dir() / "story.har"; }

  // Records the story through serve (--record all, so that the untapped call is kept
  // too), stops serve and exports the HAR. Returns what the client got.
  std::vector<Answer> record_story() {
    serve_story(upstream, plex_fixture("hubs-search.xml"));
    start({"--record", "all", "--no-enrich"});
    auto c = http();
    auto answers = play(*c, [&](std::size_t i) {
      if (i == 6) upstream.answer("/status/sessions", xml(kSessionsB));
    });
    c.reset();
    // Every exchange committed, then serve is stopped, so nothing else writes the store.
    EXPECT_TRUE(wait_until(
        [&] {
          auto r = run_plextap({"stats", "--data", data_dir().string()});
          return contains(r.out, "events      " + std::to_string(story().size()));
        },
        10s));
    proxy->signal(SIGTERM);
    EXPECT_EQ(proxy->wait_exit(15s), 0);
    auto har = run_plextap(
        {"export", "har", "--data", data_dir().string(), "--output", har_file().string()});
    EXPECT_EQ(har.exit_code, 0) << har.err;
    return answers;
  }

  std::unique_ptr<ReplayServer> from_store, from_har;
};

TEST_F(ReplayTest, StoryReplaysIdenticallyFromStoreAndHar) {
  auto recorded = record_story();
  ASSERT_EQ(recorded.size(), story().size());
  EXPECT_EQ(recorded[3].body, kSessionsA);
  EXPECT_EQ(recorded[6].body, kSessionsB);
  upstream.stop();  // from here on, only replay can answer

  from_store = std::make_unique<ReplayServer>(
      std::vector<std::string>{"--data", data_dir().string()}, /*with_tls=*/true);
  from_har = std::make_unique<ReplayServer>(
      std::vector<std::string>{"--har", har_file().string(), "--data", data_dir().string()});

  {
    SCOPED_TRACE("replay serve from the store, over https");
    auto c = HttpClient::tls(from_store->https_port, proxy->ca_file());
    EXPECT_EQ(play(*c), recorded);
  }
  {
    SCOPED_TRACE("replay serve from the HAR");
    auto c = HttpClient::plain(from_har->http_port);
    EXPECT_EQ(play(*c), recorded);
  }
  {
    SCOPED_TRACE("a second run: every repeated call gets the last recorded answer");
    auto c = HttpClient::plain(from_har->http_port);
    auto again = play(*c);
    EXPECT_EQ(again[3].body, kSessionsB);
    EXPECT_EQ(again[6].body, kSessionsB);
    EXPECT_EQ(again[0], recorded[0]);
  }
  {
    SCOPED_TRACE("a client that does not accept gzip gets the body decoded");
    auto c = HttpClient::plain(from_store->http_port);
    auto res = c->send(c->request(http::verb::get, "/hubs/search?query=wallace&limit=10"));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res[http::field::content_encoding], "");
    EXPECT_EQ(res.body(), plex_fixture("hubs-search.xml"));
  }
}

TEST_F(ReplayTest, MissIsA404NamingTheRequestCountedAndLogged) {
  record_story();
  from_har = std::make_unique<ReplayServer>(std::vector<std::string>{"--har", har_file().string()});
  auto c = HttpClient::plain(from_har->http_port);
  auto res = c->send(c->request(http::verb::get,
                                "/library/sections/9/all?type=1&X-Plex-Token=s3cret&"
                                "thumb=%2Fp%3FX-Plex-Token%3Ds3cret"));
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_TRUE(
      contains(res.body(), "GET /library/sections/9/all?thumb=/p?X-Plex-Token=REDACTED&amp;type=1"))
      << res.body();
  EXPECT_FALSE(contains(res.body(), "s3cret"));
  // Same path, other query: a miss too.
  res = c->send(c->request(http::verb::get, "/hubs/search?query=gromit&limit=10"));
  EXPECT_EQ(res.result_int(), 404);
  // --ignore-param makes a parameter irrelevant.
  ReplayServer lenient({"--har", har_file().string(), "--ignore-param", "query"});
  auto c2 = HttpClient::plain(lenient.http_port);
  EXPECT_EQ(
      c2->send(c2->request(http::verb::get, "/hubs/search?query=gromit&limit=10")).result_int(),
      200);

  auto admin = HttpClient::plain(from_har->admin_port);
  auto metrics = admin->send(admin->request(http::verb::get, "/metrics")).body();
  EXPECT_EQ(metric_value(metrics, "plextap_replay_requests_total{result=\"miss\"}"), 2);
  EXPECT_EQ(metric_value(metrics, "plextap_replay_requests_total{result=\"hit\"}"), 0);
  EXPECT_TRUE(from_har->child().wait_err(
      [](const std::string& err) {
        return contains(err, "replay miss: GET /library/sections/9/all");
      },
      5s));
  EXPECT_FALSE(contains(from_har->err(), "s3cret"));
}

TEST_F(ReplayTest, SendReportsTheCallAndFieldThatDiffer) {
  record_story();
  // A server that answers the search with one result fewer, and everything else alike.
  StandInUpstream changed;
  std::string search = plex_fixture("hubs-search.xml");
  auto cut = search.find("<Video ratingKey=\"1971\"");
  ASSERT_NE(cut, std::string::npos);
  search.erase(cut, search.find('\n', cut) - cut + 1);
  serve_story(changed, search);
  const fs::path report = proxy->dir() / "report.jsonl";
  auto r = run_plextap({"replay", "send", "--data", data_dir().string(), "--target",
                        "http://127.0.0.1:" + std::to_string(changed.port()), "--speed", "max",
                        "--token", "fresh-token", "--report", report.string(), "--fail-on-diff"},
                       30s);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "/hubs/search")) << r.out;
  EXPECT_TRUE(contains(r.out, "result_count: 8 -> 7")) << r.out;
  EXPECT_TRUE(contains(r.out, "DIFFERENT"));

  auto lines = split_lines(read_file(report));
  ASSERT_EQ(lines.size(), story().size());
  std::size_t differing = 0;
  for (const auto& text : lines) {
    JsonLine line(text);
    SCOPED_TRACE(text);
    if (line.json("/differs") == "false") continue;
    ++differing;
    EXPECT_EQ(line.str("/kind"), "search");
    EXPECT_TRUE(contains(line.str("/target"), "/hubs/search?query=wallace"));
    EXPECT_EQ(line.json("/status_then"), "200");
    EXPECT_EQ(line.json("/status_now"), "200");
    EXPECT_TRUE(contains(line.json("/diff"), R"({"field":"result_count","then":"8","now":"7"})"));
  }
  EXPECT_EQ(differing, 1u);
  // The real token went out instead of the redacted one, as a parameter and as nothing else.
  auto searches = changed.requests_to("/hubs/search");
  ASSERT_EQ(searches.size(), 1u);
  EXPECT_TRUE(contains(searches[0].target, "X-Plex-Token=fresh-token")) << searches[0].target;
  EXPECT_FALSE(contains(searches[0].target, "REDACTED"));
  EXPECT_EQ(searches[0].header("X-Plex-Client-Identifier"), "replay-test-client");

  // Against a server that answers exactly as recorded: nothing differs, exit 0.
  from_store =
      std::make_unique<ReplayServer>(std::vector<std::string>{"--data", data_dir().string()});
  auto same = run_plextap({"replay", "send", "--data", data_dir().string(), "--target",
                           "http://127.0.0.1:" + std::to_string(from_store->http_port), "--speed",
                           "max", "--fail-on-diff"},
                          30s);
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_TRUE(contains(same.out, "SAME")) << same.out;
  EXPECT_TRUE(contains(same.out, "sent 8 requests")) << same.out;
}

// replay serve as the upstream of serve: the sample capture stands in for a Plex server,
// and what serve records from it is what the capture holds.
TEST(ReplayAsUpstream, ServeRecordsWhatTheSampleAnswers) {
  ReplayServer plex(
      {"--har", (fs::path(PLEXTAP_SOURCE_DIR) / "examples" / "sample-capture.har").string()});
  PlextapProcess proxy(plex.http_port, {"--no-enrich"});
  auto c = HttpClient::tls(proxy.https_port(), proxy.ca_file());
  auto req = c->request(http::verb::get,
                        "/hubs/search?query=aladdin&limit=10&includeCollections=1&X-Plex-Token=t1");
  req.set("X-Plex-Client-Identifier", "upstream-test");
  auto res = c->send(std::move(req));
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_TRUE(contains(res.body(), R"(title="Aladdin")"));
  EXPECT_EQ(res["X-Plextap-Replayed"], "2");
  // A call the capture does not hold: the stand-in's 404 reaches the client through serve.
  auto miss = c->send(c->request(http::verb::get, "/library/sections/7/all"));
  EXPECT_EQ(miss.result_int(), 404);
  EXPECT_TRUE(contains(miss.body(), "no recorded exchange matches GET /library/sections/7/all"));

  std::vector<JsonLine> searches;
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = run_plextap({"export", "searches", "--data", (proxy.dir() / "data").string()});
        searches = export_result_lines(r, "searches");
        return searches.size() == 1;
      },
      10s));
  EXPECT_EQ(searches[0].str("/query"), "aladdin");
  EXPECT_EQ(searches[0].json("/result_count"), "1");
  EXPECT_EQ(searches[0].json("/results/0"),
            R"({"rating_key":"65547","type":"movie","title":"Aladdin"})");
  EXPECT_EQ(searches[0].str("/client/id"), "upstream-test");
}

std::string har_entry(std::string_view method, std::string_view url, unsigned status,
                      std::string_view body, std::string_view response_headers = "") {
  std::string e = R"({"startedDateTime":"2026-11-24T20:00:00.000Z","time":1,"request":{"method":")";
  e += method;
  e += R"(","url":")";
  e += url;
  e += R"(","headers":[]},"response":{"status":)";
  e += std::to_string(status);
  e += R"(,"headers":[)";
  e += response_headers;
  e += R"(],"content":{"text":")";
  e += body;
  e += R"("}}})";
  return e;
}

void write_har(const fs::path& file, const std::vector<std::string>& entries) {
  std::string text = R"({"log":{"version":"1.2","entries":[)";
  for (std::size_t i = 0; i < entries.size(); ++i) text += (i ? "," : "") + entries[i];
  std::ofstream(file) << text << "]}}";
}

// The stand-in frames its answers as serve would: HEAD, 204 and 304 without a body (and
// 304 without a length), HTTP/1.0 keep-alive, request bodies read and dropped, 100-continue
// answered, a malformed body refused with 400.
TEST(ReplayFraming, AnswersAreFramedLikeServe) {
  TempDir dir;
  write_har(dir.path() / "f.har", {har_entry("GET", "http://plex/a", 200, "hello",
                                             R"({"name":"Content-Type","value":"text/plain"})"),
                                   har_entry("GET", "http://plex/unchanged", 304, ""),
                                   har_entry("DELETE", "http://plex/playQueues/1", 204, ""),
                                   har_entry("POST", "http://plex/a", 201, "made")});
  ReplayServer stand_in({"--har", (dir.path() / "f.har").string()});
  auto raw = [&](const std::string& request) {
    RawConnection c(stand_in.http_port);
    EXPECT_TRUE(c.send(request));
    auto got = c.read_until_close(5s);
    EXPECT_TRUE(got.closed) << got.data;
    return got.data;
  };
  auto head = raw("HEAD /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(contains(head, "HTTP/1.1 200 OK\r\n")) << head;
  EXPECT_TRUE(contains(head, "Content-Length: 5\r\n")) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << "no body after a HEAD: " << head;

  auto not_modified = raw("GET /unchanged HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(contains(not_modified, "HTTP/1.1 304 Not Modified\r\n")) << not_modified;
  EXPECT_FALSE(contains(not_modified, "Content-Length")) << not_modified;
  auto no_content = raw("DELETE /playQueues/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(contains(no_content, "HTTP/1.1 204 No Content\r\n")) << no_content;
  EXPECT_FALSE(contains(no_content, "Content-Length")) << no_content;

  // HTTP/1.0 with keep-alive: two answers on one connection, the second closes it.
  auto old = raw("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /a HTTP/1.0\r\n\r\n");
  EXPECT_EQ(count(old, "hello"), 2u) << old;
  EXPECT_TRUE(contains(old, "Connection: keep-alive\r\n")) << old;
  EXPECT_TRUE(contains(old, "Connection: close\r\n")) << old;

  // A chunked body after Expect: 100-continue is read and dropped, then the answer comes.
  auto post =
      raw("POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n"
          "Connection: close\r\n\r\n5\r\nabcde\r\n0\r\n\r\n");
  EXPECT_TRUE(post.starts_with("HTTP/1.1 100 Continue\r\n\r\n")) << post;
  EXPECT_TRUE(contains(post, "HTTP/1.1 201 Created\r\n")) << post;
  EXPECT_TRUE(post.ends_with("made")) << post;

  auto bad = raw("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  EXPECT_TRUE(bad.starts_with("HTTP/1.1 400 ")) << bad;
}

// A HAR from another tool holds the token in the clear: replay send must neither print it
// nor send it on; only --token goes out. What never got an answer is not re-sent.
TEST(ReplaySendToken, ATokenKeptInTheClearNeverReachesTheReportOrTheTarget) {
  TempDir dir;
  StandInUpstream target;
  target.answer("/library/sections", Canned{});
  write_har(dir.path() / "clear.har",
            {har_entry("GET", "http://plex/library/sections?X-Plex-Token=cleartoken1", 200, ""),
             har_entry("GET", "http://plex/:/websockets/notifications?X-Plex-Token=cleartoken1",
                       101, "")});
  const fs::path report = dir.path() / "r.jsonl";
  auto r = run_plextap({"replay", "send", "--har", (dir.path() / "clear.har").string(), "--target",
                        "http://127.0.0.1:" + std::to_string(target.port()), "--token", "newtoken2",
                        "--report", report.string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "left out 1 recorded requests")) << r.out;
  EXPECT_TRUE(contains(r.out, "sent 1 requests")) << r.out;
  EXPECT_FALSE(contains(r.out + r.err + read_file(report), "cleartoken1"));
  auto got = target.requests_to("/library/sections");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/library/sections?X-Plex-Token=newtoken2");
  EXPECT_EQ(got[0].header("X-Plex-Token"), "newtoken2");
}

// replay serve presents a certificate as serve does, the Plex server's own PKCS#12
// bundle included; a wrong password stops it before any port opens.
TEST(ReplayTls, ServesAPkcs12BundleAndRefusesAWrongPassword) {
  TempDir dir;
  const auto certs = dir.path() / "certs";
  issue_certificates(certs, {"127.0.0.1"});
  const auto p12 = dir.path() / "plex.p12";
  make_pkcs12(certs / "server.pem", certs / "server.key", p12, "pl3x");
  write_har(dir.path() / "a.har", {har_entry("GET", "https://plex/identity", 200, "id")});
  const std::vector<std::string> source{"--har",     (dir.path() / "a.har").string(),
                                        "--data",    (dir.path() / "data").string(),
                                        "--tls-p12", p12.string()};
  {
    std::vector<std::string> args = source;
    args.insert(args.end(), {"--tls-p12-password", "pl3x"});
    ReplayServer stand_in(args, /*with_tls=*/true);
    auto c = HttpClient::tls(stand_in.https_port, certs / "ca.pem");
    auto res = c->send(c->request(http::verb::get, "/identity"));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "id");
    EXPECT_FALSE(fs::exists(dir.path() / "data" / "certs")) << "nothing generated";
  }
  std::vector<std::string> args{"replay",  "serve",      "--listen", "https://127.0.0.1:0",
                                "--admin", "127.0.0.1:0"};
  args.insert(args.end(), source.begin(), source.end());
  args.insert(args.end(), {"--tls-p12-password", "wrong"});
  auto r = run_plextap(args);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
  EXPECT_FALSE(contains(r.err, "listening on")) << r.err;
  args.insert(args.end(), {"--tls-cert", (certs / "server.pem").string()});
  EXPECT_EQ(run_plextap(args).exit_code, 2) << "--tls-p12 and --tls-cert exclude each other";
}

// Three entries one second apart: --speed 2 takes about one second, max almost none.
TEST(ReplayPacing, SpeedScalesTheRecordedSpan) {
  TempDir dir;
  std::string entries;
  for (int i = 0; i < 3; ++i) {
    if (i) entries += ",";
    entries += R"({"startedDateTime":"2026-11-24T20:00:0)" + std::to_string(i) +
               R"(.000Z","time":2,"request":{"method":"GET","url":"http://plex:32400/identity?n=)" +
               std::to_string(i) +
               R"(","headers":[]},"response":{"status":200,"headers":[],"content":{"text":"ok"}}})";
  }
  const fs::path har = dir.path() / "paced.har";
  std::ofstream(har) << R"({"log":{"version":"1.2","entries":[)" << entries << "]}}";
  ReplayServer target({"--har", har.string()});
  auto timed = [&](const std::string& speed) {
    auto began = std::chrono::steady_clock::now();
    auto r = run_plextap({"replay", "send", "--har", har.string(), "--target",
                          "http://127.0.0.1:" + std::to_string(target.http_port), "--speed", speed,
                          "--fail-on-diff"},
                         20s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, "recorded over 2.00 s")) << r.out;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  };
  double half = timed("2");
  EXPECT_GT(half, 0.9);
  EXPECT_LT(half, 1.7);
  EXPECT_LT(timed("max"), 0.8);
}

struct BadSource {
  const char* name;
  std::string har;
  const char* says;
};

TEST(ReplayBadInput, BadSourcesAreRefusedWholeWithOneLine) {
  std::string sample = read_file(fs::path(PLEXTAP_SOURCE_DIR) / "examples" / "sample-capture.har");
  ASSERT_GT(sample.size(), 1000u);
  const std::vector<BadSource> cases{
      {"truncated", sample.substr(0, sample.size() / 2), "not valid JSON"},
      {"not HAR", R"({"entries":[]})", "not a HAR file"},
      {"unknown version", R"({"log":{"version":"7.0","entries":[]}})",
       "unknown HAR version \"7.0\""},
      {"entry without url",
       R"({"log":{"version":"1.2","entries":[{"startedDateTime":"2026-01-01T00:00:00Z","request":{"method":"GET"},"response":{"status":200}}]}})",
       "entry 1: request.url is missing"},
  };
  TempDir dir;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path file = dir.path() / "bad.har";
    std::ofstream(file, std::ios::trunc) << c.har;
    for (const char* sub : {"serve", "send"}) {
      std::vector<std::string> args{"replay", sub, "--har", file.string()};
      if (std::string_view(sub) == "serve")
        args.insert(args.end(), {"--listen", "http://127.0.0.1:0", "--admin", "127.0.0.1:0"});
      else
        args.insert(args.end(), {"--target", "http://127.0.0.1:9"});
      auto r = run_plextap(args);
      EXPECT_EQ(r.exit_code, 1) << sub << ": " << r.err;
      EXPECT_TRUE(contains(r.err, c.says)) << r.err;
      EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
      EXPECT_FALSE(contains(r.err, "listening on")) << "half-served";
    }
  }
  {
    SCOPED_TRACE("a store that is not one");
    fs::create_directories(dir.path() / "data" / "store");
    std::ofstream(dir.path() / "data" / "store" / "data.mdb") << std::string(10000, 'x');
    auto r = run_plextap({"replay", "serve", "--data", (dir.path() / "data").string(), "--listen",
                          "http://127.0.0.1:0", "--admin", "127.0.0.1:0"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(split_lines(r.err).size(), 1u) << r.err;
    EXPECT_FALSE(contains(r.err, "listening on"));
  }
  {
    SCOPED_TRACE("no store at all");
    auto r = run_plextap({"replay", "send", "--data", (dir.path() / "nothing").string(), "--target",
                          "http://127.0.0.1:9"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_TRUE(contains(r.err, "no store at")) << r.err;
  }
  {
    SCOPED_TRACE("bad usage");
    auto r = run_plextap(
        {"replay", "send", "--har", "x.har", "--target", "http://127.0.0.1:9", "--speed", "fast"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "--speed")) << r.err;
  }
}

// The README's demo: the sample capture as the upstream, serve in front, a client story,
// then the search log, the queue log and the plays.
TEST(ReplayDemo, RunsWithNoPlexServer) {
  std::string command = "PLEXTAP_BINARY='" + std::string(PLEXTAP_BINARY) + "' '" +
                        std::string(PLEXTAP_SOURCE_DIR) + "/scripts/demo' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  int status = ::pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  auto section = [&](std::string_view title) {
    auto at = out.find(title);
    return at == std::string::npos ? std::string() : out.substr(at, out.find("\n==", at + 1) - at);
  };
  std::string searches = section("== plextap export searches"),
              queues = section("== plextap export queues"),
              plays = section("== plextap export plays");
  EXPECT_TRUE(contains(searches, R"("query":"aladdin")")) << out;
  EXPECT_TRUE(contains(queues, R"("op":"create")")) << out;
  EXPECT_TRUE(contains(plays, R"("rating_key":"65547")")) << out;
  EXPECT_TRUE(contains(plays, R"("pauses":1)")) << out;
  EXPECT_TRUE(contains(plays, R"("title":"Aladdin")")) << "enriched from the sample: " << out;
  EXPECT_TRUE(contains(out, "SAME")) << out;
}

}  // namespace
}  // namespace plextap::itest
