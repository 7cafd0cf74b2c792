// The JSON process log: a message holding a client's bytes still makes a valid JSON line.
#include <gtest/gtest.h>
#include <simdjson.h>

#include "app/cli.hpp"

namespace plextap::app {
namespace {

TEST(JsonLog, ValidJsonWhateverTheMessageHolds) {
  auto line = json_log_line("2026-11-24T12:00:00.123Z", "warning", "ok \"q\" \\ \n");
  EXPECT_EQ(line,
            "{\"ts\":\"2026-11-24T12:00:00.123Z\",\"level\":\"warning\",\"msg\":\"ok \\\"q\\\" "
            "\\\\ \\n\"}\n");
  for (int a = 0; a < 256; ++a)
    for (int b : {0x00, 0x41, 0x80, 0x9B, 0xBF, 0xC2, 0xC3, 0xFF}) {
      std::string message{'x', static_cast<char>(a), static_cast<char>(b), '"'};
      auto json = json_log_line("t", "info", message);
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << a << " " << b;
      std::string_view msg;
      ASSERT_EQ(doc["msg"].get(msg), simdjson::SUCCESS);
      EXPECT_TRUE(simdjson::validate_utf8(msg.data(), msg.size()));
      EXPECT_TRUE(msg.ends_with('"'));
    }
  // Invalid bytes become U+FFFD, one each.
  EXPECT_NE(json_log_line("t", "info", "a\xFF\xFE").find("a\xEF\xBF\xBD\xEF\xBF\xBD"),
            std::string::npos);
}

}  // namespace
}  // namespace plextap::app
