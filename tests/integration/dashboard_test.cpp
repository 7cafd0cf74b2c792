// The report and the dashboard through the real binary (README "Report and dashboard"):
// `plextap serve` records the client story, then the admin listener's /api/ answers and
// page, the admin token's rules, `plextap report`, and the page as headless Chromium
// renders it (its DOM, its console, screenshots kept in the build tree).
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "tests/integration/recording_story.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::string_view kAdminToken = "dash-Token_4711";

class DashboardTest : public RecordingTest {
 protected:
  // One request on the admin listener, with `headers`.
  Response admin(const std::string& target,
                 const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    auto c = HttpClient::plain(proxy->admin_port(), 10s);
    auto req = c->request(http::verb::get, target);
    for (const auto& [name, value] : headers) req.set(name, value);
    return c->send(std::move(req));
  }

  std::vector<std::pair<std::string, std::string>> bearer() const {
    return {{"Authorization", "Bearer " + std::string(kAdminToken)}};
  }

  // Both clients' story through the proxy, then /api/views until it shows what they did
  // (the dashboard reads new events at most every 5 s).
  std::string record_story(const std::vector<std::pair<std::string, std::string>>& auth = {}) {
    serve_plex_fixtures();
    {
      auto c = http();
      EXPECT_EQ(play_story(*c, kTv), kStoryLength);
      EXPECT_EQ(play_story(*c, kWeb), kStoryLength);
    }
    EXPECT_EQ(await_export("events", 2 * kStoryLength).size(), 2 * kStoryLength);
    std::string body;
    EXPECT_TRUE(wait_until(
        [&] {
          body = admin("/api/views", auth).body();
          return (contains(body, "\"wallace\"") && contains(body, kTv.device_name) &&
                  contains(body, kWeb.device_name)) ||
                 HasFailure();
        },
        20s, 250ms))
        << body;
    return body;
  }
};

TEST_F(DashboardTest, ApiAnswersJsonAndRefusesBadInput) {
  start();
  const std::string body = record_story();
  JsonLine views(body.substr(0, body.find('\n')));
  EXPECT_TRUE(contains(views.json("/views/0/columns"), "\"type\"")) << body;
  EXPECT_NE(views.json("/views/0/rows"), "<absent>");
  EXPECT_EQ(views.json("/since"), "null");
  EXPECT_TRUE(contains(body, "\"gromit\"")) << body;

  auto filtered =
      admin("/api/views?since=24h&until=" + rfc3339_ms(std::chrono::system_clock::now() + 1h));
  EXPECT_EQ(filtered.result_int(), 200);
  EXPECT_TRUE(contains(filtered.body(), kTv.device_name));
  // Nothing recorded before a day long gone.
  auto old = admin("/api/views?until=2020-01-01");
  EXPECT_FALSE(contains(old.body(), kTv.device_name)) << old.body();

  for (const std::string target :
       {"/api/views?since=2026-02-30", "/api/views?since=yesterday", "/api/views?colour=red",
        "/api/export/events", "/api/export/plays?format=xml"}) {
    auto bad = admin(target);
    EXPECT_EQ(bad.result_int(), 400) << target;
    EXPECT_EQ(bad[http::field::content_type], "application/json") << target;
    EXPECT_TRUE(JsonLine(bad.body().substr(0, bad.body().find('\n'))).has("/error"))
        << target << ": " << bad.body();
  }
  EXPECT_EQ(admin("/nothing/here").result_int(), 404);
  EXPECT_EQ(admin("/api/nothing").result_int(), 404);

  auto csv = admin("/api/export/clients?format=csv&since=7d");
  EXPECT_EQ(csv.result_int(), 200);
  EXPECT_EQ(csv[http::field::content_disposition], "attachment; filename=\"plextap-clients.csv\"");
  EXPECT_TRUE(contains(csv.body(), kWeb.id)) << csv.body();
  EXPECT_EQ(admin("/api/export/searches").result_int(), 400);  // it reads the store: CLI only
  auto clients = admin("/api/export/clients");
  EXPECT_TRUE(contains(clients.body(), kWeb.id)) << clients.body();
  EXPECT_EQ(admin("/api/users").result_int(), 200);
  auto now = admin("/api/now_playing");
  EXPECT_EQ(now.result_int(), 200);
  EXPECT_TRUE(contains(now.body(), "\"sessions\":[")) << now.body();

  auto page = admin("/");
  EXPECT_EQ(page.result_int(), 200);
  EXPECT_EQ(page[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_TRUE(contains(page.body(), "/api/views"));
  // The probes answer as they always did.
  EXPECT_EQ(admin("/healthz").body(), "ok\n");
}

// Without a token, a page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding) must
// not read the dashboard through a browser on this machine: only loopback names are
// answered; the probes stay open to any name.
TEST_F(DashboardTest, WithoutATokenARequestForAnotherNameIsRefused) {
  start();
  for (auto host : {"evil.example", "evil.example:32480", "192.168.1.5"}) {
    for (auto target : {"/", "/api/views", "/api/users"}) {
      auto res = admin(target, {{"Host", host}});
      EXPECT_EQ(res.result_int(), 403) << host << target;
      EXPECT_FALSE(contains(res.body(), "\"views\"")) << host << target;
    }
    EXPECT_EQ(admin("/metrics", {{"Host", host}}).result_int(), 200) << host;
  }
  EXPECT_EQ(admin("/api/users", {{"Host", "localhost:32480"}}).result_int(), 200);
  EXPECT_EQ(admin("/api/users").result_int(), 200);  // 127.0.0.1:PORT
}

TEST_F(DashboardTest, AdminTokenGuardsTheDashboardButNotTheProbes) {
  const fs::path access_log =
      fs::temp_directory_path() / ("plextap-dash-access-" + std::to_string(::getpid()));
  start({"--admin-token", std::string(kAdminToken), "--access-log", access_log.string()});

  auto refused = admin("/api/views");
  EXPECT_EQ(refused.result_int(), 401);
  EXPECT_EQ(refused[http::field::content_type], "application/json");
  EXPECT_TRUE(contains(refused.body(), "\"error\""));
  auto page = admin("/");
  EXPECT_EQ(page.result_int(), 401);
  EXPECT_TRUE(contains(page[http::field::content_type], "text/html"));
  EXPECT_EQ(admin("/api/views", {{"Authorization", "Bearer wrong"}}).result_int(), 401);
  EXPECT_EQ(admin("/api/views", {{"Cookie", "plextap_admin=wrong"}}).result_int(), 401);
  EXPECT_EQ(admin("/?token=wrong").result_int(), 401);

  EXPECT_EQ(admin("/metrics").result_int(), 200);
  EXPECT_EQ(admin("/healthz").result_int(), 200);
  EXPECT_EQ(admin("/readyz").result_int(), 200);

  record_story(bearer());
  EXPECT_EQ(admin("/api/views", bearer()).result_int(), 200);
  EXPECT_EQ(admin("/", bearer()).result_int(), 200);

  // A link with the token: redirected to the same place without it, and a cookie.
  auto link = admin("/api/views?since=7d&token=" + std::string(kAdminToken));
  EXPECT_EQ(link.result_int(), 303);
  EXPECT_EQ(link[http::field::location], "/api/views?since=7d");
  const std::string cookie(link[http::field::set_cookie]);
  EXPECT_TRUE(contains(cookie, "HttpOnly")) << cookie;
  EXPECT_TRUE(contains(cookie, "SameSite=Strict")) << cookie;
  EXPECT_TRUE(contains(cookie, "Path=/")) << cookie;
  auto with_cookie = admin(std::string(link[http::field::location]),
                           {{"Cookie", cookie.substr(0, cookie.find(';'))}});
  EXPECT_EQ(with_cookie.result_int(), 200);
  EXPECT_TRUE(contains(with_cookie.body(), kTv.device_name));

  // The token is in no log line.
  EXPECT_FALSE(contains(proxy->stderr_text(), kAdminToken));
  proxy->signal(SIGTERM);
  EXPECT_EQ(proxy->wait_exit(15s), 0);
  const std::string log = read_file(access_log);
  EXPECT_FALSE(log.empty());
  EXPECT_FALSE(contains(log, kAdminToken));
  EXPECT_FALSE(contains(proxy->stderr_text(), kAdminToken));
  fs::remove(access_log);
}

TEST_F(DashboardTest, AnAdminAddressBeyondLoopbackNeedsAToken) {
  TempDir tmp;
  auto r = run_plextap({"serve", "--listen", "http://127.0.0.1:0", "--admin",
                        "0.0.0.0:" + std::to_string(upstream.port()), "--data",
                        (tmp.path() / "data").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count(r.err, "\n"), 1u) << r.err;
  EXPECT_TRUE(contains(r.err, "--admin-token")) << r.err;
  EXPECT_TRUE(contains(r.err, "0.0.0.0")) << r.err;
  // Refused before anything was made.
  EXPECT_FALSE(fs::exists(tmp.path() / "data"));
}

TEST_F(DashboardTest, ReportPrintsTheRecordedStoreInEachFormat) {
  start();
  record_story();
  auto json = cli("report", {"--format", "json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  JsonLine views(json.out.substr(0, json.out.find('\n')));
  EXPECT_NE(views.json("/views/0/name"), "<absent>") << json.out;
  EXPECT_TRUE(contains(json.out, "\"wallace\""));

  auto text = cli("report", {"--format", "text", "--since", "24h"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, kTv.device_name)) << text.out;
  EXPECT_TRUE(contains(text.out, "gromit")) << text.out;
  EXPECT_TRUE(contains(text.out, "\n====")) << text.out;

  const fs::path html_file = proxy->dir() / "report.html";
  auto html = cli("report", {"--format", "html", "--output", html_file.string()});
  EXPECT_EQ(html.exit_code, 0) << html.err;
  const std::string page = read_file(html_file);
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_TRUE(contains(page, "<table"));
  EXPECT_TRUE(contains(page, kWeb.device_name));

  EXPECT_EQ(cli("report", {"--since", "2026-13-01"}).exit_code, 2);
  EXPECT_EQ(cli("report", {"--format", "xml"}).exit_code, 2);
}

// --- the page in a real browser ---

std::string chromium_binary() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/snap/bin"})
    for (const char* name : {"chromium", "chromium-browser"})
      if (fs::path p = fs::path(dir) / name; ::access(p.c_str(), X_OK) == 0) return p.string();
  return {};
}

struct Browser {
  int exit_code = -1;
  std::string dom;
  std::string log;
};

// Chromium, headless, on `url` for at most a minute: the DOM after the page's scripts ran
// (a virtual-time budget lets its fetches finish), its log (console messages included), and
// a screenshot when asked.
Browser run_chromium(const std::string& url, const fs::path& scratch,
                     const std::string& window = "1280,900", const fs::path& screenshot = {}) {
  fs::create_directories(scratch / "profile");
  std::string cmd = "timeout -k 5 60 " + chromium_binary() +
                    " --headless=new --no-sandbox --disable-gpu --no-first-run"
                    " --disable-extensions --disable-background-networking --disable-sync"
                    " --enable-logging=stderr --v=0 --virtual-time-budget=5000"
                    " --user-data-dir=" +
                    (scratch / "profile").string() + " --window-size=" + window;
  cmd += screenshot.empty() ? std::string(" --dump-dom") : " --screenshot=" + screenshot.string();
  cmd += " '" + url + "' >" + (scratch / "dom.html").string() + " 2>" +
         (scratch / "chromium.log").string();
  Browser b;
  int status = std::system(cmd.c_str());
  b.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  b.dom = read_file(scratch / "dom.html");
  b.log = read_file(scratch / "chromium.log");
  return b;
}

// The page's console said something (the page itself never logs: any message is an error,
// an exception or a resource that failed to load).
std::vector<std::string> console_lines(const std::string& log) {
  std::vector<std::string> out;
  for (const auto& line : split_lines(log))
    if (contains(line, ":CONSOLE") || contains(line, "Uncaught")) out.push_back(line);
  return out;
}

TEST_F(DashboardTest, BrowserRendersTheRecordedStory) {
  const std::string chromium = chromium_binary();
  // `scripts/dev test` installs Chromium: without it this test fails, it never skips.
  ASSERT_FALSE(chromium.empty()) << "chromium is not installed (apt-get install chromium)";
  const fs::path artifacts = fs::path(PLEXTAP_ARTIFACT_DIR);
  fs::create_directories(artifacts);
  TempDir scratch;

  // The console check can fail: a page that errs is caught.
  {
    const fs::path bad = scratch.path() / "bad.html";
    std::ofstream(bad) << "<!DOCTYPE html><title>x</title><script>console.error('probe-err');"
                          "undefinedFunction();</script>";
    auto b = run_chromium("file://" + bad.string(), scratch.path() / "probe");
    ASSERT_EQ(b.exit_code, 0) << b.log;
    EXPECT_FALSE(console_lines(b.log).empty()) << "console errors are not seen: " << b.log;
  }

  start({"--admin-token", std::string(kAdminToken)});
  record_story(bearer());
  // In through a token link, as a user would: redirected, the cookie carries the rest.
  const std::string url = "http://127.0.0.1:" + std::to_string(proxy->admin_port()) +
                          "/?token=" + std::string(kAdminToken);
  auto b = run_chromium(url, scratch.path() / "dom");
  ASSERT_EQ(b.exit_code, 0) << b.log;
  EXPECT_TRUE(console_lines(b.log).empty()) << b.log;
  // The tables and charts the page drew from /api/views, with the story's strings.
  EXPECT_TRUE(contains(b.dom, "<td class=\"text\">wallace</td>")) << b.dom;
  EXPECT_TRUE(contains(b.dom, "gromit"));
  EXPECT_TRUE(contains(b.dom, kTv.device_name)) << b.dom;
  EXPECT_TRUE(contains(b.dom, kWeb.device_name));
  EXPECT_TRUE(contains(b.dom, "<svg class=\"chart\"")) << b.dom;
  EXPECT_TRUE(contains(b.dom, "/api/export/plays?format=csv"));
  EXPECT_TRUE(contains(b.dom, "nothing plays right now")) << b.dom;  // the story stopped
  EXPECT_FALSE(contains(b.dom, "admin token required"));
  std::ofstream(artifacts / "dashboard-dom.html") << b.dom;

  for (const auto& [window, name] :
       {std::pair{"375,800", "dashboard-375.png"}, std::pair{"1280,900", "dashboard-1280.png"}}) {
    const fs::path shot = artifacts / name;
    fs::remove(shot);
    auto s = run_chromium(url, scratch.path() / name, window, shot);
    EXPECT_EQ(s.exit_code, 0) << s.log;
    EXPECT_TRUE(console_lines(s.log).empty()) << s.log;
    ASSERT_TRUE(fs::exists(shot)) << s.log;
    EXPECT_GT(fs::file_size(shot), 10'000u) << name;
  }
}

}  // namespace
}  // namespace plextap::itest
