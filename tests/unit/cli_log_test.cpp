// The command line's helpers: sizes, durations and times as people write them, and the JSON
// process log (a message holding a client's bytes still makes a valid JSON line).
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

TEST(Sizes, UnitsInAnyCaseWithFractions) {
  constexpr std::size_t kMiB = std::size_t{1} << 20, kGiB = std::size_t{1} << 30;
  EXPECT_EQ(parse_size("64G", "--x"), 64 * kGiB);
  EXPECT_EQ(parse_size("64g", "--x"), 64 * kGiB);
  EXPECT_EQ(parse_size("64GiB", "--x"), 64 * kGiB);
  EXPECT_EQ(parse_size("64gb", "--x"), 64 * kGiB);
  EXPECT_EQ(parse_size("1.5G", "--x"), kGiB + kGiB / 2);
  EXPECT_EQ(parse_size("512MiB", "--x"), 512 * kMiB);
  EXPECT_EQ(parse_size("512m", "--x"), 512 * kMiB);
  EXPECT_EQ(parse_size("1024K", "--x"), kMiB);
  EXPECT_EQ(parse_size("1t", "--x"), 1024 * kGiB);
  EXPECT_EQ(parse_size("1048576", "--x"), kMiB);
  EXPECT_EQ(parse_size("2097152b", "--x"), 2 * kMiB);
}

TEST(Sizes, BadOnesNameTheFlag) {
  for (const char* bad : {"", "G", "-1G", "+1G", " 1G", "1 G", "1e9", "inf", "1.5", "1Q", "64GG",
                          "1.2.3G", "512K", "0", "1000000"}) {
    try {
      parse_size(bad, "--store-max-size");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--store-max-size"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(parse_size("99999999999999999999", "--x"), UsageError);
  EXPECT_THROW(parse_size("16777216T", "--x"), UsageError);
}

TEST(Durations, UnitsCompoundsAndFractions) {
  using std::chrono::milliseconds;
  EXPECT_EQ(parse_duration("90s"), milliseconds(90'000));
  EXPECT_EQ(parse_duration("90S"), milliseconds(90'000));
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("250MS"), milliseconds(250));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120'000));
  EXPECT_EQ(parse_duration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(parse_duration("1H30M15S"), milliseconds(5'415'000));
  EXPECT_EQ(parse_duration("1.5h"), milliseconds(5'400'000));
  EXPECT_EQ(parse_duration("2d"), milliseconds(172'800'000));
  EXPECT_EQ(parse_duration("30"), milliseconds(30'000));
  EXPECT_EQ(parse_duration("0.5"), milliseconds(500));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
}

TEST(Durations, BadOnesNameTheFlag) {
  for (const char* bad :
       {"", "s", "-1s", "+1s", "1x", "1h30", "30 s", "1e3s", "inf", "nan", "1..5s", "h1"}) {
    try {
      parse_duration(bad, "--connect-timeout");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--connect-timeout"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(parse_duration("1000000000d"), UsageError);
}

TEST(Times, AgesDatesAndDaysThatDoNotExist) {
  const std::int64_t now = 1'800'000'000'000;
  EXPECT_EQ(parse_time("24h", now), now - 86'400'000);
  EXPECT_EQ(parse_time("7d", now), now - 7 * 86'400'000LL);
  EXPECT_EQ(parse_time("1h30m", now), now - 5'400'000);
  EXPECT_EQ(parse_time("2026-11-01", now), 1'793'491'200'000);
  EXPECT_EQ(parse_time("2026-11-01T00:00:00Z", now), 1'793'491'200'000);
  for (const char* bad :
       {"2026-02-30", "2026-13-01", "2026-02-29", "2026-11-01T25:00:00Z", "24x", "yesterday"})
    EXPECT_THROW(parse_time(bad, now), UsageError) << bad;
  EXPECT_NO_THROW(parse_time("2028-02-29", now));
}

}  // namespace
}  // namespace plextap::app
