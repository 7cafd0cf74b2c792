// The server watch through the real binary (README "Server watch"): `plextap serve
// --plex-token` listens to the stand-in server's notification websocket and asks it for
// sessions and resources, so that a client talking to the server directly, never through
// the proxy, is still recorded.
#include <map>
#include <thread>

#include "tests/integration/fixture.hpp"
#include "tests/integration/recording_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Canned = StandInUpstream::Canned;

constexpr std::string_view kToken = "watchtoken-4711";
constexpr std::string_view kDirectClient = "direct-client-1";

class ServerWatchTest : public ProxyTest {
 protected:
  void SetUp() override {
    upstream.serve_as_server(std::string(kToken));
    Canned timeline;
    timeline.content_type = "text/xml;charset=utf-8";
    timeline.body = R"(<MediaContainer size="0"/>)";
    upstream.answer("/:/timeline", timeline);
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

  // The lines of `export kind` of `client`, once there are at least `n` (at most `limit`).
  std::vector<JsonLine> await_lines(const std::string& kind, std::size_t n,
                                    std::chrono::milliseconds limit = 15s) {
    std::vector<JsonLine> mine;
    wait_until(
        [&] {
          mine.clear();
          for (auto& line : export_lines(kind))
            if (line.str("/client/id") == kDirectClient) mine.push_back(std::move(line));
          return mine.size() >= n || HasFailure();
        },
        limit, 100ms);
    return mine;
  }

  // A timeline update sent to the stand-in server itself, bypassing plextap.
  void play_directly(std::string_view state, long long time_ms,
                     const std::string& product = "DirectApp") {
    auto c = HttpClient::plain(upstream.port());
    std::string target = "/:/timeline?ratingKey=4242&key=%2Flibrary%2Fmetadata%2F4242&state=";
    target += state;
    target += "&time=" + std::to_string(time_ms) + "&duration=600000";
    auto req = c->request(http::verb::get, target);
    req.set("X-Plex-Client-Identifier", std::string(kDirectClient));
    req.set("X-Plex-Product", product);
    req.set("X-Plex-Token", std::string(kToken));
    EXPECT_EQ(c->send(std::move(req)).result_int(), 200);
  }

  bool await_listener() {
    return wait_until([&] { return upstream.notification_listeners() == 1; }, 10s);
  }

  std::string metrics() { return admin_get("/metrics").body(); }
};

// A client that talks to the server directly shows up in the exports, with what the
// server says of it: its user, location and bandwidth.
TEST_F(ServerWatchTest, RecordsAClientThatBypassesTheProxy) {
  start({"--plex-token", std::string(kToken)});
  ASSERT_TRUE(await_listener()) << proxy->stderr_text();
  play_directly("playing", 5000);

  auto notes = await_lines("notifications", 1);
  ASSERT_FALSE(notes.empty());
  EXPECT_EQ(notes[0].str("/source"), "server") << notes[0].text();
  EXPECT_EQ(notes[0].str("/op"), "playing");
  EXPECT_EQ(notes[0].str("/rating_key"), "4242");
  EXPECT_EQ(notes[0].json("/time_ms"), "5000");

  auto sessions = await_lines("sessions", 1);
  ASSERT_FALSE(sessions.empty());
  const auto& s = sessions.back();
  EXPECT_EQ(s.str("/source"), "server") << s.text();
  EXPECT_EQ(s.str("/user/name"), "DirectViewer");
  EXPECT_EQ(s.json("/user/account_id"), "7");
  EXPECT_EQ(s.str("/location"), "lan");
  EXPECT_EQ(s.json("/bandwidth_kbps"), "4321");
  EXPECT_EQ(s.str("/client/product"), "DirectApp");
  EXPECT_EQ(s.str("/rating_key"), "4242");

  EXPECT_FALSE(export_lines("resources").empty());
  // Nothing the client did passed through the proxy.
  EXPECT_TRUE(export_lines("timeline").empty());
  // The item only the server named is enriched too (an entry per rating key, whatever the
  // stand-in answers for its metadata).
  EXPECT_TRUE(wait_until(
      [&] {
        for (const auto& m : export_lines("media"))
          if (m.str("/rating_key") == "4242") return true;
        return HasFailure();
      },
      15s, 200ms))
      << proxy->stderr_text();
}

// The server drops the websocket: plextap reconnects (back-off starts at 1 s) and goes on
// recording.
TEST_F(ServerWatchTest, ReconnectsAfterTheServerDropsTheWebsocket) {
  start({"--plex-token", std::string(kToken)});
  ASSERT_TRUE(await_listener());
  play_directly("playing", 1000);
  ASSERT_EQ(await_lines("notifications", 1).size(), 1u);

  upstream.drop_notifications();
  ASSERT_TRUE(wait_until([&] { return upstream.notification_listeners() == 0; }, 5s));
  ASSERT_TRUE(await_listener()) << proxy->stderr_text();
  play_directly("paused", 2000);
  auto notes = await_lines("notifications", 2);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[1].json("/time_ms"), "2000");
  EXPECT_GE(upstream.count("/:/websockets/notifications"), 2u);
  EXPECT_TRUE(contains(metrics(), "plextap_server_watch_disconnects_total 1"));
}

// A wrong token: one log line naming the problem, and no token anywhere.
TEST_F(ServerWatchTest, AWrongTokenIsOneClearLogLine) {
  const std::string wrong = "wrong-token-0815";
  start({"--plex-token", wrong, "--no-enrich"});
  ASSERT_TRUE(
      wait_until([&] { return contains(proxy->stderr_text(), "refuses the Plex token"); }, 10s))
      << proxy->stderr_text();
  std::this_thread::sleep_for(300ms);  // what a second refusal would log
  const std::string log = proxy->stderr_text();
  EXPECT_EQ(count(log, "refuses the Plex token"), 1u) << log;
  EXPECT_FALSE(contains(log, wrong));
  EXPECT_TRUE(contains(metrics(), "plextap_server_watch_unauthorized_total"));
  proxy->signal(SIGTERM);
  ASSERT_TRUE(proxy->wait_exit(15s));
  for (const char* kind : {"notifications", "sessions", "resources"}) {
    auto r = cli("export", {kind});
    EXPECT_FALSE(contains(r.out, wrong)) << kind;
  }
  for (const auto& entry : fs::recursive_directory_iterator(proxy->dir() / "data")) {
    if (entry.is_regular_file() && entry.file_size() < (std::uintmax_t{64} << 20)) {
      EXPECT_FALSE(contains(read_file(entry.path()), wrong)) << entry.path();
    }
  }
}

// --no-server-watch: nothing of the server's side is recorded.
TEST_F(ServerWatchTest, NoServerWatchRecordsNothingOfTheServer) {
  start({"--plex-token", std::string(kToken), "--no-server-watch"});
  play_directly("playing", 5000);
  std::this_thread::sleep_for(1500ms);  // time the watch would have had to connect
  EXPECT_EQ(upstream.count("/:/websockets/notifications"), 0u);
  for (const char* kind : {"notifications", "sessions", "resources"})
    EXPECT_TRUE(export_lines(kind).empty()) << kind;
  EXPECT_FALSE(contains(metrics(), "plextap_server_watch_connected"));
}

// /metrics shows the watch.
TEST_F(ServerWatchTest, MetricsShowTheWatch) {
  start({"--plex-token", std::string(kToken)});
  ASSERT_TRUE(await_listener());
  play_directly("playing", 5000);
  ASSERT_EQ(await_lines("notifications", 1).size(), 1u);
  std::string m;
  ASSERT_TRUE(wait_until(
      [&] {
        m = metrics();
        return contains(m, "plextap_server_watch_resource_samples_total 1");
      },
      10s, 100ms))
      << m;
  EXPECT_TRUE(contains(m, "plextap_server_watch_connected 1")) << m;
  EXPECT_TRUE(contains(m, "plextap_server_watch_connects_total 1"));
  EXPECT_TRUE(contains(m, R"(plextap_server_watch_messages_total{type="playing"} 1)"));
  EXPECT_TRUE(contains(m, "plextap_server_watch_malformed_total 0"));
  EXPECT_TRUE(contains(m, "plextap_server_watch_unauthorized_total 0"));
  EXPECT_FALSE(contains(m, "plextap_server_watch_session_fetches_total 0"));
  EXPECT_TRUE(contains(m, "\nplextap_plays_in_progress 1\n")) << m;
  EXPECT_TRUE(contains(m, "\nplextap_transcodes_in_progress 0\n")) << m;
}

// The gauges follow the latest sessions snapshot: a transcoded play counts in both.
TEST_F(ServerWatchTest, PlaysAndTranscodesInProgressAreGauges) {
  start({"--plex-token", std::string(kToken)});
  ASSERT_TRUE(await_listener());
  play_directly("playing", 5000, "TranscodedApp");
  std::string m;
  EXPECT_TRUE(wait_until(
      [&] {
        m = metrics();
        return contains(m, "\nplextap_transcodes_in_progress 1\n");
      },
      10s, 100ms))
      << m;
  EXPECT_TRUE(contains(m, "\nplextap_plays_in_progress 1\n")) << m;
}

}  // namespace
}  // namespace plextap::itest

namespace plextap::itest {
namespace {

// The union of both sides through the binary: a client through the proxy and one that
// bypasses it, both announced by the server. `export plays` has one row each (`both` for
// the proxied client, `server` with the snapshot's user, location and bandwidth for the
// other), and `export clients` names the one that bypasses the proxy.
TEST_F(ServerWatchTest, PlaysAndClientsFromBothSides) {
  constexpr std::string_view kProxied = "proxied-client-1";
  start({"--plex-token", std::string(kToken), "--no-enrich"});
  ASSERT_TRUE(await_listener()) << proxy->stderr_text();

  auto via_proxy = [&](std::string_view state, long long time_ms) {
    auto c = http();
    std::string target = "/:/timeline?ratingKey=777&key=%2Flibrary%2Fmetadata%2F777&state=";
    target += state;
    target += "&time=" + std::to_string(time_ms) + "&duration=600000";
    auto req = c->request(http::verb::get, target);
    req.set("X-Plex-Client-Identifier", std::string(kProxied));
    req.set("X-Plex-Product", "ProxiedApp");
    req.set("X-Plex-Token", std::string(kToken));
    EXPECT_EQ(c->send(std::move(req)).result_int(), 200);
  };
  via_proxy("playing", 1000);
  play_directly("playing", 5000);
  // The server is asked for its sessions when a notification names a new one: wait for the
  // direct client's snapshot before it stops (a stopped play is no session any more).
  ASSERT_FALSE(await_lines("sessions", 1).empty()) << proxy->stderr_text();
  via_proxy("playing", 11000);
  play_directly("playing", 15000);
  via_proxy("stopped", 12000);
  play_directly("stopped", 16000);
  ASSERT_GE(await_lines("notifications", 3).size(), 3u);

  std::map<std::string, JsonLine> plays;
  ASSERT_TRUE(wait_until(
      [&] {
        plays.clear();
        for (auto& line : export_lines("plays")) {
          auto id = line.str("/client_id");
          plays.insert_or_assign(id, std::move(line));
        }
        return (plays.count(std::string(kProxied)) && plays.count(std::string(kDirectClient)) &&
                plays.at(std::string(kProxied)).str("/source") == "both") ||
               HasFailure();
      },
      10s, 100ms));
  const auto& proxied = plays.at(std::string(kProxied));
  EXPECT_EQ(proxied.str("/source"), "both") << proxied.text();
  EXPECT_EQ(proxied.str("/rating_key"), "777");
  EXPECT_EQ(proxied.str("/ended_by"), "stopped") << proxied.text();
  const auto& direct = plays.at(std::string(kDirectClient));
  EXPECT_EQ(direct.str("/source"), "server") << direct.text();
  EXPECT_EQ(direct.str("/rating_key"), "4242");
  EXPECT_EQ(direct.str("/user/name"), "DirectViewer") << direct.text();
  EXPECT_EQ(direct.json("/user/account_id"), "7");
  EXPECT_EQ(direct.str("/location"), "lan");
  EXPECT_EQ(direct.json("/bandwidth_kbps"), "4321");

  std::map<std::string, JsonLine> clients;
  for (auto& line : export_lines("clients")) {
    auto id = line.str("/client_id");
    clients.insert_or_assign(id, std::move(line));
  }
  ASSERT_TRUE(clients.count(std::string(kDirectClient))) << clients.size();
  ASSERT_TRUE(clients.count(std::string(kProxied)));
  EXPECT_EQ(clients.at(std::string(kDirectClient)).json("/via_proxy"), "false");
  EXPECT_EQ(clients.at(std::string(kDirectClient)).json("/on_server"), "true");
  EXPECT_EQ(clients.at(std::string(kProxied)).json("/via_proxy"), "true");
  EXPECT_EQ(clients.at(std::string(kProxied)).json("/on_server"), "true");

  auto stats = cli("stats");
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_TRUE(contains(stats.out, "bypassing")) << stats.out;
  EXPECT_TRUE(contains(stats.out, kDirectClient)) << stats.out;

  // /metrics has the same counts: a scrape asks for a round, a later one shows it.
  std::string m;
  EXPECT_TRUE(wait_until(
      [&] {
        m = metrics();
        return contains(m, "plextap_coverage_server_clients{via_proxy=\"false\"} 1");
      },
      10s, 200ms))
      << m;
  EXPECT_TRUE(contains(m, "plextap_coverage_server_clients{via_proxy=\"true\"} 1")) << m;
  EXPECT_TRUE(contains(m, "plextap_coverage_server_plays{via_proxy=\"true\"} 1")) << m;
  EXPECT_TRUE(contains(m, "plextap_coverage_server_plays{via_proxy=\"false\"} 1")) << m;
}

}  // namespace
}  // namespace plextap::itest
