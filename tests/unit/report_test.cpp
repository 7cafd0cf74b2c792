// The renderers of `plextap report` (analytics/report.hpp), the dashboard's routes
// (analytics/dashboard.hpp) and the admin token check (proxy/admin.hpp), from
// hand-written views JSON and requests.
#include "analytics/report.hpp"

#include <gtest/gtest.h>

#include <string>

#include "analytics/dashboard.hpp"
#include "app/cli.hpp"
#include "proxy/admin.hpp"
#include "store/store.hpp"
#include "tests/unit/temp_dir.hpp"

namespace plextap {
namespace {

using analytics::format_cell;
using analytics::render_html;
using analytics::render_text;

// Two views: every column type, null cells, unicode, and hostile strings.
constexpr std::string_view kViews = R"({"since":"2026-11-01T00:00:00.000Z","until":null,
 "user":null,"generated_at":"2026-11-02T10:00:00.000Z","views":[
 {"name":"plays","title":"Plays <script>alert(1)</script>",
  "columns":[{"name":"show","label":"Show","type":"string"},
             {"name":"plays","label":"Plays","type":"int"},
             {"name":"watched","label":"Watched","type":"ms"},
             {"name":"completion","label":"Done","type":"ratio"},
             {"name":"last","label":"Last","type":"time"},
             {"name":"scrobbled","label":"Seen","type":"bool"}],
  "rows":[["Amélie ✓",12,3723000,0.425,"2026-11-01T20:00:00.000Z",true],
          ["<img src=x onerror=alert(1)>",3,null,null,null,false],
          ["bell\u0007\u001b[31mred",1,59999,1,null,null]],
  "chart":{"kind":"bar","label":"show","values":["plays"]},
  "note":"Quotes \" and 'apostrophes' & ampersands"},
 {"name":"empty","title":"Nothing","columns":[{"name":"a","label":"A","type":"string"}],
  "rows":[],"chart":null,"note":null}]})";

TEST(ReportCells, FormatEachColumnType) {
  EXPECT_EQ(format_cell("ms", "3723000"), "1:02:03");
  EXPECT_EQ(format_cell("ms", "59999"), "0:00:59");  // whole seconds, cut
  EXPECT_EQ(format_cell("ms", "0"), "0:00:00");
  EXPECT_EQ(format_cell("ms", "90000000"), "25:00:00");
  EXPECT_EQ(format_cell("ratio", "0.425"), "42.5%");
  EXPECT_EQ(format_cell("ratio", "1"), "100.0%");
  EXPECT_EQ(format_cell("int", "12"), "12");
  EXPECT_EQ(format_cell("bool", "true"), "yes");
  EXPECT_EQ(format_cell("bool", "false"), "no");
  EXPECT_EQ(format_cell("string", "\"x\""), "x");
  for (auto type : {"string", "int", "ms", "ratio", "time", "bool"})
    EXPECT_EQ(format_cell(type, "null"), "-") << type;
}

TEST(ReportText, TitledAlignedTables) {
  const std::string text = render_text(kViews);
  EXPECT_NE(text.find("from 2026-11-01T00:00:00.000Z until now, every user"), std::string::npos)
      << text;
  EXPECT_NE(text.find("Plays <script>alert(1)</script>\n===="), std::string::npos) << text;
  // Columns line up by code points ("Amélie ✓" is 8 wide, not 11), numbers to the right.
  EXPECT_NE(
      text.find(
          "Show                          Plays  Watched    Done  Last                      Seen\n"
          "----------------------------  -----  -------  ------  ------------------------  ----\n"
          "Amélie ✓                         12  1:02:03   42.5%  2026-11-01T20:00:00.000Z  yes\n"
          "<img src=x onerror=alert(1)>      3        -       -  -                         no\n"),
      std::string::npos)
      << text;
  // A terminal gets no control byte from a recorded string.
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(text.find('\x07'), std::string::npos);
  EXPECT_NE(text.find("bell\\x07\\x1B[31mred"), std::string::npos) << text;
  EXPECT_NE(text.find("Quotes \" and 'apostrophes' & ampersands"), std::string::npos);
  EXPECT_NE(text.find("Nothing\n=======\nA\n-\n(no rows)\n"), std::string::npos) << text;
}

TEST(ReportText, HeaderAndRuleAsWideAsTheWidestCell) {
  constexpr std::string_view views = R"({"views":[{"name":"v","title":"T",
    "columns":[{"name":"n","label":"N","type":"int"},{"name":"s","label":"Name","type":"string"}],
    "rows":[[1000,"a"],[7,"日本語のタイトル"]],"chart":null,"note":null}]})";
  const std::string text = render_text(views);
  EXPECT_NE(text.find("T\n=\n   N  Name\n----  --------\n1000  a\n   7  日本語のタイトル\n"),
            std::string::npos)
      << text;
}

TEST(ReportHtml, EscapesEveryRecordedString) {
  const std::string html = render_html(kViews);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  // The only markup is the page's own: no recorded string opens an element.
  EXPECT_EQ(html.find("<script"), std::string::npos) << html;
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_NE(html.find("Plays &lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("<td>&lt;img src=x onerror=alert(1)&gt;</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("Quotes &quot; and &#39;apostrophes&#39; &amp; ampersands"),
            std::string::npos);
  EXPECT_NE(html.find("<td>Amélie ✓</td><td class=\"num\">12</td><td class=\"num\">1:02:03</td>"
                      "<td class=\"num\">42.5%</td>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("no rows"), std::string::npos);
  // Self-contained: nothing to fetch, nothing to run.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("src="), html.find("src=x"));
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
}

TEST(ReportHtml, EscapeCoversAttributes) {
  EXPECT_EQ(analytics::html_escape(R"(<a href="x" title='y'>&</a>)"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
}

TEST(Report, RefusesWhatIsNotViews) {
  EXPECT_THROW(render_text("not json"), std::invalid_argument);
  EXPECT_THROW(render_text("[]"), std::invalid_argument);
  EXPECT_THROW(render_html(R"({"views":{}})"), std::invalid_argument);
  EXPECT_THROW(render_html(R"({"views":[{"name":"x"}]})"), std::invalid_argument);
}

// --- the admin token ---

using proxy::AdminAccess;
using proxy::check_admin_access;

TEST(AdminToken, SameSecret) {
  EXPECT_TRUE(proxy::same_secret("abc", "abc"));
  EXPECT_FALSE(proxy::same_secret("abc", "abd"));
  EXPECT_FALSE(proxy::same_secret("abc", "abcd"));
  EXPECT_FALSE(proxy::same_secret("", "a"));
}

TEST(AdminToken, ProbesStayOpenAndNoTokenAllowsAll) {
  for (auto path : {"/metrics", "/healthz", "/readyz", "/metrics?x=1"})
    EXPECT_EQ(check_admin_access("t0k", path, "", "").verdict, AdminAccess::open) << path;
  EXPECT_EQ(check_admin_access("", "/api/views", "", "").verdict, AdminAccess::allowed);
  EXPECT_EQ(check_admin_access("", "/", "", "").verdict, AdminAccess::allowed);
}

TEST(AdminToken, WithoutATokenOnlyLoopbackNamesAreAnswered) {
  for (auto host : {"127.0.0.1:32480", "127.0.0.1", "localhost:32480", "LOCALHOST", "[::1]:32480",
                    "[::1]", "127.8.9.10:1"})
    EXPECT_TRUE(proxy::loopback_host(host)) << host;
  for (auto host : {"", "evil.example", "evil.example:32480", "192.168.1.5:32480",
                    "localhost.evil.example", "[::1", "[::1]x", "127.0.0.1.evil.example",
                    "0.0.0.0:32480"})
    EXPECT_FALSE(proxy::loopback_host(host)) << host;
}

TEST(AdminToken, BearerOrCookie) {
  EXPECT_EQ(check_admin_access("t0k", "/api/views", "", "").verdict, AdminAccess::refused);
  EXPECT_EQ(check_admin_access("t0k", "/", "", "").verdict, AdminAccess::refused);
  EXPECT_EQ(check_admin_access("t0k", "/api/views", "Bearer t0k", "").verdict,
            AdminAccess::allowed);
  EXPECT_EQ(check_admin_access("t0k", "/api/views", "bearer  t0k ", "").verdict,
            AdminAccess::allowed);
  EXPECT_EQ(check_admin_access("t0k", "/api/views", "Bearer t0", "").verdict, AdminAccess::refused);
  EXPECT_EQ(check_admin_access("t0k", "/api/views", "Basic dDBr", "").verdict,
            AdminAccess::refused);
  EXPECT_EQ(check_admin_access("t0k", "/", "", "a=1; plextap_admin=t0k; b=2").verdict,
            AdminAccess::allowed);
  EXPECT_EQ(check_admin_access("t0k", "/", "", "plextap_admin=t0kx").verdict, AdminAccess::refused);
  EXPECT_EQ(check_admin_access("t0k", "/", "", "other_plextap_admin=t0k").verdict,
            AdminAccess::refused);
}

TEST(AdminToken, LinkRedirectsWithoutTheTokenAndSetsTheCookie) {
  auto a = check_admin_access("t 0&k", "/api/views?since=24h&token=t%200%26k&user=ann", "", "");
  ASSERT_EQ(a.verdict, AdminAccess::redirect);
  EXPECT_EQ(a.location, "/api/views?since=24h&user=ann");
  EXPECT_EQ(a.set_cookie, "plextap_admin=t%200%26k; HttpOnly; SameSite=Strict; Path=/");
  // The cookie it set lets the next request in.
  EXPECT_EQ(check_admin_access("t 0&k", a.location, "", "plextap_admin=t%200%26k").verdict,
            AdminAccess::allowed);

  a = check_admin_access("t0k", "/?token=t0k", "", "");
  ASSERT_EQ(a.verdict, AdminAccess::redirect);
  EXPECT_EQ(a.location, "/");
  // Never to another host.
  EXPECT_EQ(check_admin_access("t0k", "//elsewhere.example/?token=t0k", "", "").location, "/");
  EXPECT_EQ(check_admin_access("t0k", "/\\elsewhere.example?token=t0k&a=1", "", "").location,
            "/?a=1");
  // A wrong token in the link is refused, even with a good cookie beside it.
  EXPECT_EQ(check_admin_access("t0k", "/?token=nope", "", "plextap_admin=t0k").verdict,
            AdminAccess::refused);
  EXPECT_EQ(check_admin_access("t0k", "/?token=t0k&token=nope", "", "").verdict,
            AdminAccess::refused);
}

// --- the dashboard's routes over an empty store ---

class DashboardRoutes : public ::testing::Test {
 protected:
  test_support::TempDir dir;
  store::Store store{dir.path() / "store", false};
  analytics::Insights insights{store};
  analytics::Dashboard dashboard{&insights,
                                 [](const std::string& t) { return app::parse_time(t); }};
};

TEST_F(DashboardRoutes, AnswersJsonAndRefusesBadInput) {
  insights.update();
  auto a = dashboard.answer("GET", "/api/views?since=24h&user=ann");
  EXPECT_EQ(a.status, 200u) << a.body;
  EXPECT_EQ(a.content_type, "application/json");
  EXPECT_NE(a.body.find("\"views\":["), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("\"user\":\"ann\""), std::string::npos) << a.body;

  for (auto target : {"/api/views?since=2026-02-30", "/api/views?colour=red",
                      "/api/views?user=a&user=b", "/api/users?x=1", "/api/export/events",
                      "/api/export/plays?format=xml", "/api/export/plays?until=yesterday"}) {
    a = dashboard.answer("GET", target);
    EXPECT_EQ(a.status, 400u) << target;
    EXPECT_EQ(a.body.rfind("{\"error\":\"", 0), 0u) << target << ": " << a.body;
  }
  EXPECT_EQ(dashboard.answer("GET", "/api/nothing").status, 404u);
  EXPECT_EQ(dashboard.answer("GET", "/favicon.ico").status, 404u);
  EXPECT_EQ(dashboard.answer("POST", "/api/views").status, 405u);

  a = dashboard.answer("GET", "/api/export/plays?format=csv&since=7d");
  EXPECT_EQ(a.status, 200u) << a.body;
  EXPECT_EQ(a.content_type, "text/csv; charset=utf-8");
  bool attachment = false;
  for (const auto& [name, value] : a.headers)
    attachment = attachment || (name == "Content-Disposition" &&
                                value == "attachment; filename=\"plextap-plays.csv\"");
  EXPECT_TRUE(attachment);
  EXPECT_EQ(dashboard.answer("GET", "/api/now_playing").body, "{\"sessions\":[]}\n");
  EXPECT_EQ(dashboard.answer("GET", "/api/users").body, "{\"users\":[]}\n");
}

TEST_F(DashboardRoutes, ThePageIsSelfContained) {
  auto a = dashboard.answer("GET", "/");
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(a.body.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(dashboard.answer("GET", "/?from=a-bookmark").status, 200u);
  // Nothing loaded from elsewhere, and recorded strings never go through innerHTML.
  EXPECT_EQ(a.body.find("http://", a.body.find("<body")),
            a.body.find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(a.body.find("https://"), std::string::npos);
  EXPECT_EQ(a.body.find("innerHTML"), std::string::npos);
  EXPECT_EQ(a.body.find("<script src"), std::string::npos);
  EXPECT_EQ(a.body.find("<link rel=\"stylesheet\""), std::string::npos);
}

TEST(DashboardOff, WithoutRecordingTheApiIs503) {
  analytics::Dashboard dashboard(nullptr, [](const std::string& t) { return app::parse_time(t); });
  EXPECT_EQ(dashboard.answer("GET", "/api/views").status, 503u);
  EXPECT_EQ(dashboard.answer("GET", "/").status, 200u);
}

}  // namespace
}  // namespace plextap
