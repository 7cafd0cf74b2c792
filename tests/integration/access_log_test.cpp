// The access log against clients that try to forge it (README "Operations"): quotes,
// backslashes, control bytes and bytes that are not UTF-8 in the target and in
// User-Agent / X-Plex-Product, sent with a raw socket. Each request gives exactly one line,
// in the text form with nginx's \xHH escapes, in the JSON form as valid JSON and UTF-8.
#include <simdjson.h>

#include <regex>

#include "tests/integration/fixture.hpp"
#include "tests/integration/raw_upstream.hpp"
#include "tests/integration/recording_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Probe {
  const char* what;
  std::string request;
  unsigned status;  // what the proxy answers
};

const std::vector<Probe>& probes() {
  static const std::vector<Probe> all{
      {"quotes, backslashes and bytes that are not UTF-8 in the target and User-Agent",
       "GET /small?q=\"quoted\"\\back&X-Plex-Token=sekrit1&b=\xFF\xFE HTTP/1.1\r\nHost: x\r\n"
       "User-Agent: Agent \"x\" 200 0 0.1ms \"forged\\\" \xC3(\r\nConnection: close\r\n\r\n",
       200},
      {"a would-be second line in X-Plex-Product, through quotes alone",
       "GET /small?p=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: not this one\r\n"
       "X-Plex-Product: Plex \"Web\" K\xC3\xBC"
       "che \xE2\x82\xAC\r\nConnection: close\r\n\r\n",
       200},
      {"a control byte in X-Plex-Product",
       "GET /small?c=1 HTTP/1.1\r\nHost: x\r\nX-Plex-Product: P\x1b[2J\x01Q\r\n"
       "Connection: close\r\n\r\n",
       400},
      {"a control byte in the target",
       "GET /small?e=\x1b[2J HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400},
      {"a bare LF ending a forged line inside a header",
       "GET /small?n=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: a\n127.0.0.1 - \"GET /forged\" 200 0 "
       "0.000ms \"x\"\r\nConnection: close\r\n\r\n",
       400},
  };
  return all;
}

class AccessLogTest : public ProxyTest {
 protected:
  // Sends every probe on its own connection, stops serve, and returns the log's lines.
  std::vector<std::string> run_probes(const std::vector<std::string>& extra) {
    const fs::path log = logs_.path() / "access.log";
    std::vector<std::string> flags{"--access-log", log.string()};
    flags.insert(flags.end(), extra.begin(), extra.end());
    start(flags);
    for (const auto& p : probes()) {
      SCOPED_TRACE(p.what);
      RawConnection c(proxy->http_port());
      EXPECT_TRUE(c.send(p.request));
      auto got = c.read_until_close(10s);
      EXPECT_TRUE(got.data.starts_with("HTTP/1.1 " + std::to_string(p.status) + " "))
          << escape_bytes(got.data);
    }
    proxy->signal(SIGTERM);
    EXPECT_EQ(proxy->wait_exit(10s), 0);
    auto text = read_file(log);
    EXPECT_FALSE(contains(text, "sekrit1")) << "the token, in the access log";
    return split_lines(text);
  }

  TempDir logs_;
};

TEST_F(AccessLogTest, TextLinesCannotBeForged) {
  auto lines = run_probes({});
  ASSERT_EQ(lines.size(), probes().size()) << escape_bytes(read_file(logs_.path() / "access.log"));
  // remote, time, "method target", status, bytes, duration, "product": quotes only around
  // the two quoted fields, nothing but printable text and UTF-8.
  const std::regex shape(R"re(^\S+ \S+ "[^"]*" \d{3} \d+ [0-9.]+ms "[^"]*"$)re");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE(probes()[i].what);
    EXPECT_TRUE(std::regex_match(lines[i], shape)) << escape_bytes(lines[i]);
    for (char c : lines[i])
      EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20) << escape_bytes(lines[i]);
    EXPECT_TRUE(simdjson::validate_utf8(lines[i].data(), lines[i].size()))
        << escape_bytes(lines[i]);
  }
  EXPECT_TRUE(
      contains(lines[0],
               "\"GET /small?q=\\x22quoted\\x22\\x5Cback&X-Plex-Token=REDACTED&b=\\xFF\\xFE\" "
               "200 "))
      << lines[0];
  EXPECT_TRUE(lines[0].ends_with("\"Agent \\x22x\\x22 200 0 0.1ms \\x22forged\\x5C\\x22 \\xC3(\""))
      << lines[0];
  EXPECT_TRUE(
      lines[1].ends_with("\"Plex \\x22Web\\x22 K\xC3\xBC"
                         "che \xE2\x82\xAC\""))
      << "X-Plex-Product before User-Agent, UTF-8 kept: " << lines[1];
  // Refused heads: the 400 is logged too, on one line, with nothing of the head that was
  // not understood.
  for (std::size_t i = 2; i < lines.size(); ++i) {
    EXPECT_TRUE(contains(lines[i], "\" 400 ")) << lines[i];
    EXPECT_FALSE(contains(lines[i], "forged")) << lines[i];
  }
}

TEST_F(AccessLogTest, JsonLinesParseAndAreUtf8) {
  auto lines = run_probes({"--log-format", "json"});
  ASSERT_EQ(lines.size(), probes().size()) << escape_bytes(read_file(logs_.path() / "access.log"));
  std::vector<JsonLine> parsed;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE(probes()[i].what);
    EXPECT_TRUE(simdjson::validate_utf8(lines[i].data(), lines[i].size()))
        << escape_bytes(lines[i]);
    ASSERT_NO_THROW(parsed.emplace_back(lines[i])) << escape_bytes(lines[i]);
    EXPECT_EQ(parsed.back().json("/status"), std::to_string(probes()[i].status));
  }
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(parsed[0].str("/target"),
            "/small?q=\"quoted\"\\back&X-Plex-Token=REDACTED&b=" + replacement + replacement);
  EXPECT_EQ(parsed[0].str("/product"), "Agent \"x\" 200 0 0.1ms \"forged\\\" " + replacement + "(");
  EXPECT_EQ(parsed[1].str("/product"),
            "Plex \"Web\" K\xC3\xBC"
            "che \xE2\x82\xAC");
  EXPECT_EQ(parsed[1].str("/target"), "/small?p=1");
}

}  // namespace
}  // namespace plextap::itest
