// The access log as operators run it (README "Logs"): renamed by logrotate, then SIGHUP or
// SIGUSR1, and the next request lands in a new file at the original path with nothing
// lost; nginx's combined format as GoAccess reads it; JSON lines valid whatever the
// client sent. No format ever shows a token.
#include <simdjson.h>

#include <algorithm>
#include <regex>

#include "tests/integration/fixture.hpp"
#include "tests/integration/raw_upstream.hpp"
#include "tests/integration/recording_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class AccessLogRotateTest : public ProxyTest {
 protected:
  fs::path log() const { return logs_.path() / "access.log"; }

  void get(const std::string& target,
           const std::vector<std::pair<http::field, std::string>>& headers = {}) {
    auto c = http();
    auto req = c->request(http::verb::get, target);
    for (const auto& [name, value] : headers) req.set(name, value);
    EXPECT_EQ(c->send(std::move(req)).result_int(), 200) << target;
  }

  // Waits (bounded) until `file` holds `n` lines, and returns them.
  std::vector<std::string> lines(const fs::path& file, std::size_t n) {
    std::vector<std::string> got;
    for (int i = 0; i < 250; ++i) {
      got = fs::exists(file) ? split_lines(read_file(file)) : std::vector<std::string>{};
      if (got.size() >= n) break;
      std::this_thread::sleep_for(20ms);
    }
    return got;
  }

  bool stderr_says(const std::string& what, std::size_t times) {
    for (int i = 0; i < 250; ++i) {
      const auto text = proxy->stderr_text();
      std::size_t found = 0;
      for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++found;
      if (found >= times) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  TempDir logs_;
};

TEST_F(AccessLogRotateTest, RenamedThenSighupOrSigusr1TheNextLinesGoToANewFileNothingLost) {
  start({"--access-log", log().string()});
  for (int i = 0; i < 3; ++i) get("/small?n=" + std::to_string(i));
  ASSERT_EQ(lines(log(), 3).size(), 3u);

  fs::rename(log(), logs_.path() / "access.log.1");  // what logrotate does
  get("/small?n=3");  // between the rename and the signal: still the old file
  proxy->signal(SIGHUP);
  ASSERT_TRUE(stderr_says("reopened the access log", 1)) << proxy->stderr_text();
  for (int i = 4; i < 7; ++i) get("/small?n=" + std::to_string(i));
  ASSERT_EQ(lines(log(), 3).size(), 3u);

  fs::rename(log(), logs_.path() / "access.log.2");
  proxy->signal(SIGUSR1);
  ASSERT_TRUE(stderr_says("reopened the access log", 2)) << proxy->stderr_text();
  get("/small?n=7");
  ASSERT_EQ(lines(log(), 1).size(), 1u);
  expect_still_serving();  // SIGUSR1 did not end it
  proxy->signal(SIGTERM);
  ASSERT_EQ(proxy->wait_exit(10s), 0);

  // Every request once, whole, in the file that was open when it was written.
  auto first = split_lines(read_file(logs_.path() / "access.log.1"));
  auto second = split_lines(read_file(logs_.path() / "access.log.2"));
  auto third = split_lines(read_file(log()));
  ASSERT_EQ(first.size(), 4u);
  ASSERT_EQ(second.size(), 3u);
  ASSERT_EQ(third.size(), 2u);  // n=7 and the still-serving probe
  auto n_of = [](const std::string& line) {
    std::smatch m;
    return std::regex_search(line, m, std::regex(R"re(\?n=(\d+)")re")) ? std::stoi(m[1]) : -1;
  };
  // Each request came on a connection of its own and its line is written once its answer
  // has gone, so two lines may swap places when the threads do: the set is what counts.
  auto ns_of = [&](const std::vector<std::string>& file) {
    std::vector<int> ns;
    for (const auto& l : file) ns.push_back(n_of(l));
    std::sort(ns.begin(), ns.end());
    return ns;
  };
  EXPECT_EQ(ns_of(first), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(ns_of(second), (std::vector<int>{4, 5, 6}));
  EXPECT_EQ(n_of(third[0]), 7);
  for (const auto& l : first)
    EXPECT_TRUE(std::regex_match(l, std::regex(R"re(\S+ \S+ ".*" \d{3} .*)re")));
}

// GoAccess's COMBINED log-format (%h %^[%d:%t %^] "%r" %s %b "%R" "%u") as a regex.
const std::regex kCombined(
    R"re(^(\S+) - (\S+) \[(\d{2}/[A-Z][a-z]{2}/\d{4}):(\d{2}:\d{2}:\d{2}) ([+-]\d{4})\] "([A-Z]+) (\S+) (HTTP/1\.[01])" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$)re");

TEST_F(AccessLogRotateTest, CombinedIsNginxsFormatWithTokensRedacted) {
  start({"--access-log", log().string(), "--access-log-format", "combined"});
  get("/small?X-Plex-Token=sekrit-query&a=1",
      {{http::field::referer, "https://app.plex.tv/desktop/#!/?X-Plex-Token=sekrit-referer"},
       {http::field::user_agent, "Mozilla/5.0 (X11; Linux) \"quoted\""}});
  get("/small?plain=1");
  auto got = lines(log(), 2);
  ASSERT_EQ(got.size(), 2u);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(got[0], m, kCombined)) << got[0];
  EXPECT_EQ(m[1], "127.0.0.1");
  EXPECT_EQ(m[2], "-");
  EXPECT_EQ(m[6], "GET");
  EXPECT_EQ(m[7], "/small?X-Plex-Token=REDACTED&a=1");
  EXPECT_EQ(m[8], "HTTP/1.1");
  EXPECT_EQ(m[9], "200");
  EXPECT_GT(std::stoll(m[10]), 0);
  EXPECT_EQ(m[11], "https://app.plex.tv/desktop/#!/?X-Plex-Token=REDACTED");
  EXPECT_EQ(m[12], "Mozilla/5.0 (X11; Linux) \\x22quoted\\x22");
  ASSERT_TRUE(std::regex_match(got[1], m, kCombined)) << got[1];
  EXPECT_EQ(m[11], "-");  // no Referer
  EXPECT_FALSE(contains(read_file(log()), "sekrit"));
}

TEST_F(AccessLogRotateTest, JsonLinesParseWhateverTheClientSentAndNameTheProductFromTheQuery) {
  start({"--access-log", log().string(), "--access-log-format", "json"});
  {
    RawConnection c(proxy->http_port());
    EXPECT_TRUE(
        c.send("GET /small?b=\xFF\xFE&X-Plex-Token=sekrit-raw HTTP/1.1\r\nHost: x\r\n"
               "User-Agent: Agent \xC3(\r\nReferer: /web?x-plex-token=sekrit-ref\r\n"
               "Connection: close\r\n\r\n"));
    EXPECT_TRUE(c.read_until_close(10s).data.starts_with("HTTP/1.1 200 "));
  }
  get("/small?x-plex-product=Plex%20Web&X-Plex-Client-Identifier=abc",
      {{http::field::user_agent, "Mozilla/5.0"}});
  auto got = lines(log(), 2);
  ASSERT_EQ(got.size(), 2u);
  simdjson::dom::parser parser;
  std::vector<std::string> products, targets;
  for (const auto& line : got) {
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;  // checks UTF-8 too
    std::string_view product, target, referer;
    ASSERT_EQ(doc["product"].get(product), simdjson::SUCCESS);
    ASSERT_EQ(doc["target"].get(target), simdjson::SUCCESS);
    ASSERT_EQ(doc["referer"].get(referer), simdjson::SUCCESS);
    products.emplace_back(product);
    targets.emplace_back(target);
    EXPECT_EQ(referer.find("sekrit"), std::string_view::npos);
  }
  EXPECT_EQ(products[0], "Agent \xEF\xBF\xBD(");  // User-Agent, its bad byte as U+FFFD
  EXPECT_EQ(targets[0], "/small?b=\xEF\xBF\xBD\xEF\xBF\xBD&X-Plex-Token=REDACTED");
  EXPECT_EQ(products[1], "Plex Web");  // from the query, before the User-Agent
  EXPECT_FALSE(contains(read_file(log()), "sekrit"));
}

}  // namespace
}  // namespace plextap::itest
