// The shared leaf utilities: time, percent-encoding, Prometheus text, rate-limited logging.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <thread>
#include <vector>

#include "base/percent.hpp"
#include "base/prometheus.hpp"
#include "base/rate_limited_log.hpp"
#include "base/time.hpp"

namespace plextap::base {
namespace {

TEST(Time, FormatsMillisecondsAndSeconds) {
  EXPECT_EQ(rfc3339_ms(1732449600123), "2024-11-24T12:00:00.123Z");
  EXPECT_EQ(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(rfc3339_ms(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(rfc3339_seconds(1732449600), "2024-11-24T12:00:00Z");
}

TEST(Time, ParsesWhatItWrites) {
  for (std::int64_t ms : {std::int64_t{0}, std::int64_t{1732449600123}, std::int64_t{-1},
                          std::int64_t{951782400000}, std::int64_t{4102444799999}})
    EXPECT_EQ(parse_rfc3339_ms(rfc3339_ms(ms)), ms) << ms;
}

TEST(Time, ParsesDatesOffsetsAndFractions) {
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01"), 1793491200000);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T00:00:00Z"), 1793491200000);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01t00:00:00z"), 1793491200000);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01 00:00:00Z"), 1793491200000);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T01:00:00+01:00"), 1793491200000);
  EXPECT_EQ(parse_rfc3339_ms("2026-10-31T23:30:00-00:30"), 1793491200000);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T00:00:00.5Z"), 1793491200500);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T00:00:00.1234Z"), 1793491200123);
  EXPECT_EQ(parse_rfc3339_ms("2026-11-01T00:00:00.9996Z"), 1793491201000);
  EXPECT_EQ(parse_rfc3339_ms("2024-02-29"), 1709164800000) << "a leap year";
  EXPECT_EQ(parse_rfc3339_ms("2000-02-29"), 951782400000) << "divisible by 400";
  EXPECT_EQ(parse_rfc3339_ms("2016-12-31T23:59:60Z"), parse_rfc3339_ms("2017-01-01"))
      << "a leap second";
}

TEST(Time, RejectsImpossibleDatesAndTimes) {
  for (const char* bad : {"2026-02-30",
                          "2026-02-29",
                          "1900-02-29",
                          "2026-13-01",
                          "2026-00-01",
                          "2026-04-31",
                          "2026-06-31",
                          "2026-01-32",
                          "2026-01-00",
                          "2026-01-01T24:00:00Z",
                          "2026-01-01T23:60:00Z",
                          "2026-01-01T23:59:61Z",
                          "2026-01-01T00:00:00+24:00",
                          "2026-01-01T00:00:00+01:60",
                          "2026-1-01",
                          "2026-01-01T0:00:00Z",
                          "2026-01-01T00:00:00",
                          "2026-01-01T00:00:00.Z",
                          "2026-01-01T00:00:00+0100",
                          "2026-01-01x",
                          " 2026-01-01",
                          "+026-01-01",
                          "2026-01-01T00:00:00ZZ",
                          "",
                          "yesterday"})
    EXPECT_FALSE(parse_rfc3339_ms(bad).has_value()) << bad;
}

TEST(Percent, DecodesWithOrWithoutPlus) {
  EXPECT_EQ(percent_decode("a%20b+c", Plus::space), "a b c");
  EXPECT_EQ(percent_decode("a%20b+c", Plus::literal), "a b+c");
  EXPECT_EQ(percent_decode("100%&%zz%4&%4a%4A", Plus::space), "100%&%zz%4&JJ");
  EXPECT_EQ(percent_decode("%", Plus::space), "%");
  EXPECT_EQ(percent_decode(std::string_view("%00", 3), Plus::space), std::string(1, '\0'));
}

TEST(Percent, EncodesAllButUnreserved) {
  EXPECT_EQ(percent_encode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(percent_encode("a b&=/\xE6"), "a%20b%26%3D%2F%E6");
  for (int c = 0; c < 256; ++c) {
    std::string one(1, static_cast<char>(c));
    EXPECT_EQ(percent_decode(percent_encode(one), Plus::literal), one) << c;
  }
}

TEST(Percent, EscapeHelpers) {
  EXPECT_TRUE(is_percent_escape("%2f", 0));
  EXPECT_FALSE(is_percent_escape("%2", 0));
  EXPECT_FALSE(is_percent_escape("%g0", 0));
  EXPECT_EQ(percent_escaped_byte("%2F", 0), '/');
  EXPECT_EQ(hex_value('f'), 15);
  EXPECT_EQ(hex_value('x'), -1);
}

TEST(Prometheus, WritesFamiliesAndSamples) {
  std::string out;
  PrometheusText text(out);
  text.family("x_total", "counter", "Things.");
  text.sample("x_total", {"kind", "a"}, std::uint64_t{3});
  text.sample("x_total", 7);
  text.sample("x_seconds_sum", std::string_view("0.500000"));
  EXPECT_EQ(out,
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total{kind=\"a\"} 3\nx_total 7\n"
            "x_seconds_sum 0.500000\n");
}

TEST(Prometheus, EscapesLabelValuesAndHelp) {
  std::string out;
  PrometheusText text(out);
  text.family("x", "gauge", "a \\ b\nc \"q\"");
  text.sample("x", {"v", "q\"b\\n\nl"}, -1);
  EXPECT_EQ(out, "# HELP x a \\\\ b\\nc \"q\"\n# TYPE x gauge\nx{v=\"q\\\"b\\\\n\\nl\"} -1\n");
}

class CapturedLog : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_));
    logger->set_pattern("%l %v");
    spdlog::set_default_logger(logger);
  }
  void TearDown() override { spdlog::set_default_logger(previous_); }
  std::vector<std::string> lines() {
    std::vector<std::string> out;
    std::string line;
    std::istringstream in(stream_.str());
    while (std::getline(in, line)) out.push_back(line);
    return out;
  }
  std::ostringstream stream_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(CapturedLog, RateLimitedLogSaysHowManyWereHeldBack) {
  RateLimitedLog log(std::chrono::milliseconds(200), "more misses");
  log.warn("first");
  log.warn("second");
  log.error("third");
  EXPECT_EQ(lines(), (std::vector<std::string>{"warning first"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  log.error("fourth");
  log.warn("fifth");
  EXPECT_EQ(lines(),
            (std::vector<std::string>{"warning first", "error fourth (2 more misses held back)"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  log.warn("sixth");
  EXPECT_EQ(lines().back(), "warning sixth (1 more misses held back)");
}

TEST(RateLimitedLog, OneLinePerIntervalAcrossThreads) {
  RateLimitedLog log(std::chrono::hours(1), "more");
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (log.admit()) ++admitted;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 1);
}

}  // namespace
}  // namespace plextap::base
