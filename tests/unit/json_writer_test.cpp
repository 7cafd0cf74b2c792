#include "base/json_writer.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <limits>

namespace plextap::base {
namespace {

bool valid_json(const std::string& s) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  return parser.parse(s).get(e) == simdjson::SUCCESS;
}

std::string json_quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(JsonWriter, CommasBetweenMembersAndElements) {
  std::string s;
  JsonWriter w(s);
  w.begin_object();
  w.key("a");
  w.int64(1);
  w.key("b");
  w.begin_array();
  w.boolean(true);
  w.null();
  w.begin_object();
  w.end_object();
  w.begin_array();
  w.end_array();
  w.string("x");
  w.end_array();
  w.key("c");
  w.begin_object();
  w.key("d");
  w.boolean(false);
  w.end_object();
  w.end_object();
  EXPECT_EQ(s, R"({"a":1,"b":[true,null,{},[],"x"],"c":{"d":false}})");
}

TEST(JsonWriter, AppendsToExistingText) {
  std::string s = "prefix ";
  JsonWriter w(s);
  w.begin_array();
  w.uint64(std::numeric_limits<std::uint64_t>::max());
  w.int64(std::numeric_limits<std::int64_t>::min());
  w.end_array();
  EXPECT_EQ(s, "prefix [18446744073709551615,-9223372036854775808]");
}

TEST(JsonWriter, RawSplicesValues) {
  std::string s;
  JsonWriter w(s);
  w.begin_object();
  w.key("media");
  w.raw(R"({"title":"Aladdin"})");
  w.key("n");
  w.int64(2);
  w.end_object();
  EXPECT_EQ(s, R"({"media":{"title":"Aladdin"},"n":2})");
}

TEST(JsonWriter, DoublesRoundTripWithoutLocale) {
  auto one = [](double d) {
    std::string s;
    JsonWriter w(s);
    w.number(d);
    return s;
  };
  EXPECT_EQ(one(0.1), "0.1");
  EXPECT_EQ(one(1.78), "1.78");
  EXPECT_EQ(one(8.0), "8");
  EXPECT_EQ(one(-1.5), "-1.5");
  EXPECT_EQ(one(1e21), "1e+21");
  // Integral doubles beyond 64-bit integers must not look like integers to a reader.
  EXPECT_EQ(one(3.072206601519872e22), "3.072206601519872e+22");
  EXPECT_EQ(one(-1e19), "-1e+19");
  EXPECT_EQ(one(123456789012345.0), "123456789012345");
  EXPECT_EQ(one(std::nan("")), "null");
  EXPECT_EQ(one(std::numeric_limits<double>::infinity()), "null");
  double tricky = 0.30000000000000004;
  EXPECT_EQ(std::stod(one(tricky)), tricky);
  // Built with append: GCC 12 misreports `"[" + std::string` (-Wrestrict false positive).
  std::string extremes = "[";
  extremes.append(one(5e-324)).append(",").append(one(1.7976931348623157e308)).append("]");
  EXPECT_TRUE(valid_json(extremes));
}

TEST(JsonWriter, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(json_quoted(R"(a"b\c)"), R"("a\"b\\c")");
  EXPECT_EQ(json_quoted("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(json_quoted(std::string_view("\x01\x1f\0", 3)), R"("\u0001\u001f\u0000")");
  EXPECT_EQ(json_quoted("/slash and \x7f"), R"("/slash and \u007f")");
}

TEST(JsonWriter, KeepsValidUtf8) {
  // 2-, 3- and 4-byte sequences, including the edges of each range.
  std::string text = "Amélie — 東京 🎬 \xC2\xA0 \xEF\xBF\xBF \xF4\x8F\xBF\xBF";
  EXPECT_EQ(json_quoted(text), "\"" + text + "\"");
}

TEST(JsonWriter, EscapesC1ControlsAsTheAccessLogDid) {
  // U+0080..U+009F are valid UTF-8 but controls a terminal may act on (CSI, NEL).
  EXPECT_EQ(json_quoted("\xC2\x80\xC2\x85\xC2\x9B\xC2\x9F"), R"("\u0080\u0085\u009b\u009f")");
  EXPECT_EQ(json_quoted("\xC2\xA0"), "\"\xC2\xA0\"") << "U+00A0 is no control";
}

TEST(JsonWriter, ValidJsonAndUtf8ForAnyTwoBytes) {
  for (int a = 0; a < 256; ++a)
    for (int b = 0; b < 256; ++b) {
      std::string in{static_cast<char>(a), static_cast<char>(b)};
      auto out = json_quoted(in);
      ASSERT_TRUE(valid_json(out)) << a << " " << b;
      ASSERT_TRUE(simdjson::validate_utf8(out.data(), out.size())) << a << " " << b;
    }
}

// Plain text is passed over eight bytes at a time: every byte, at every place of a run of
// plain ones, is escaped exactly as it is alone.
TEST(JsonWriter, AnyByteInsideLongPlainTextIsEscapedAsAlone) {
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    std::string alone;
    append_json_escaped(alone, one);
    for (std::size_t at = 0; at < 20; ++at) {
      std::string in(20, 'x');
      in[at] = static_cast<char>(b);
      std::string out;
      append_json_escaped(out, in);
      ASSERT_EQ(out, std::string(at, 'x') + alone + std::string(19 - at, 'x')) << b << " at " << at;
    }
  }
}

TEST(JsonWriter, ReplacesInvalidUtf8) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(json_quoted("a\xFF"
                        "b"),
            "\"a" + r + "b\"");
  EXPECT_EQ(json_quoted("\xC0\xAF"), "\"" + r + r + "\"");                  // overlong '/'
  EXPECT_EQ(json_quoted("\xED\xA0\x80"), "\"" + r + r + r + "\"");          // surrogate
  EXPECT_EQ(json_quoted("\xF4\x90\x80\x80"), "\"" + r + r + r + r + "\"");  // above U+10FFFF
  EXPECT_EQ(json_quoted("end\xE2\x82"), "\"end" + r + r + "\"");            // cut sequence
  for (int b = 0; b < 256; ++b) {
    std::string s(1, static_cast<char>(b));
    EXPECT_TRUE(valid_json(json_quoted(s))) << b;
  }
}

TEST(JsonWriter, KeyIsEscapedToo) {
  std::string s;
  JsonWriter w(s);
  w.begin_object();
  w.key("we\"ird");
  w.string("v");
  w.end_object();
  EXPECT_EQ(s, R"({"we\"ird":"v"})");
  EXPECT_TRUE(valid_json(s));
}

}  // namespace
}  // namespace plextap::base
