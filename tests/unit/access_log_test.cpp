// The access log's escaping: a client controls the target and X-Plex-Product, and must
// not be able to forge a line, or a field of one, in either form.
#include "proxy/access_log.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "base/json_writer.hpp"
#include "tests/unit/temp_dir.hpp"

namespace plextap::proxy {
namespace {

std::string text(std::string_view s) {
  std::string out;
  append_log_escaped(out, s);
  return out;
}

std::string json(std::string_view s) {
  std::string out;
  base::append_json_escaped(out, s);
  return out;
}

// What a JSON parser reads back from `escaped` between quotes; empty optional if invalid.
std::optional<std::string> parse_json_string(const std::string& escaped) {
  simdjson::dom::parser parser;
  simdjson::padded_string doc("\"" + escaped + "\"");
  std::string_view value;
  if (parser.parse(doc).get(value)) return std::nullopt;
  return std::string(value);
}

TEST(AccessLogText, EscapesQuotesBackslashesAndControlBytesAsNginxDoes) {
  EXPECT_EQ(text("/library/sections?x=1"), "/library/sections?x=1");
  EXPECT_EQ(text("a\"b"), "a\\x22b");
  EXPECT_EQ(text("a\\b"), "a\\x5Cb");
  EXPECT_EQ(text("a\r\nb"), "a\\x0D\\x0Ab");
  EXPECT_EQ(text(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(text("\t\x1b[31m\x7f"), "\\x09\\x1B[31m\\x7F");
  // A forged line: nothing of it can end the real one or close its quotes.
  auto forged = text("Plex\" 200 0 0.1ms \"x\n127.0.0.1 - \"GET /admin");
  EXPECT_EQ(forged.find('"'), std::string::npos) << forged;
  EXPECT_EQ(forged.find('\n'), std::string::npos) << forged;
}

TEST(AccessLogText, KeepsUtf8AndEscapesWhatIsNotUtf8) {
  EXPECT_EQ(text("Plex f\xC3\xBCr K\xC3\xBC"
                 "che \xE2\x82\xAC \xF0\x9F\x8E\xAC"),
            "Plex f\xC3\xBCr K\xC3\xBC"
            "che \xE2\x82\xAC \xF0\x9F\x8E\xAC");
  EXPECT_EQ(text("\xFF\xFE"), "\\xFF\\xFE");
  EXPECT_EQ(text("\xC3"), "\\xC3") << "a sequence cut short";
  EXPECT_EQ(text("\xC3("), "\\xC3(");
  EXPECT_EQ(text("\xC0\xAF"), "\\xC0\\xAF") << "an overlong '/'";
  EXPECT_EQ(text("\xED\xA0\x80"), "\\xED\\xA0\\x80") << "a surrogate";
  EXPECT_EQ(text("\xF4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80") << "past U+10FFFF";
  EXPECT_EQ(text("\xC2\x85\xC2\x9B"), "\\xC2\\x85\\xC2\\x9B") << "C1 controls (NEL, CSI)";
  EXPECT_EQ(text("\xC2\xA0"), "\xC2\xA0") << "U+00A0 is no control";
}

TEST(AccessLogJson, EscapesAndStaysValidUtf8WhateverTheInput) {
  EXPECT_EQ(json("a\"b\\c\n\r\t"), "a\\\"b\\\\c\\n\\r\\t");
  EXPECT_EQ(json(std::string("\0\x1b\x7f", 3)), "\\u0000\\u001b\\u007f");
  EXPECT_EQ(json("\xC2\x9B"), "\\u009b");
  EXPECT_EQ(json("K\xC3\xBC"
                 "che"),
            "K\xC3\xBC"
            "che");
  // Each byte that is not UTF-8 becomes one U+FFFD.
  EXPECT_EQ(json("a\xFF\xC3"
                 "b"),
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(json("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");

  // Every byte value, alone and after a lead byte: the result always parses as JSON.
  for (int a = 0; a < 256; ++a)
    for (int b : {0x00, 0x41, 0x80, 0xBF, 0xC3, 0xFF}) {
      std::string in{static_cast<char>(a), static_cast<char>(b), '"'};
      auto back = parse_json_string(json(in));
      ASSERT_TRUE(back) << "bytes " << a << " " << b;
      EXPECT_TRUE(simdjson::validate_utf8(back->data(), back->size()));
      EXPECT_TRUE(back->ends_with('"'));
    }
  EXPECT_EQ(parse_json_string(json("a\"\\\n\xC3\xBC")), "a\"\\\n\xC3\xBC");
}

TEST(AccessLogJson, WholeLinesAreValidJsonForInvalidUtf8) {
  test_support::TempDir dir;
  const auto file = dir.path() / "access.log";
  {
    AccessLog log(file.string(), AccessLogFormat::json);
    AccessRecord r;
    r.remote = "127.0.0.1";
    r.method = "G\xC3T";
    r.target = "/a?b=\xFF\xFE\xC2\x9B&X-Plex-Token=secret\xED\xA0\x80";
    r.product = "Plex \xE2\x82\"\n";
    r.status = 200;
    log.write(r);
    log.flush();
  }
  // The log is written by a background thread: wait for the line.
  std::string line;
  for (int i = 0; i < 200 && line.empty(); ++i) {
    std::ifstream in(file);
    if (!std::getline(in, line) || in.eof()) line.clear();
    if (line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(line.empty());
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
  std::string_view target, product;
  ASSERT_EQ(doc["target"].get(target), simdjson::SUCCESS);
  ASSERT_EQ(doc["product"].get(product), simdjson::SUCCESS);
  EXPECT_EQ(target, "/a?b=\xEF\xBF\xBD\xEF\xBF\xBD\xC2\x9B&X-Plex-Token=REDACTED");
  EXPECT_EQ(product, "Plex \xEF\xBF\xBD\xEF\xBF\xBD\"\n");
  EXPECT_TRUE(simdjson::validate_utf8(line.data(), line.size()));
}

TEST(AccessLogProduct, FromTheHeaderThenTheQueryInAnyCaseThenTheUserAgent) {
  EXPECT_EQ(client_product("Plex for LG", "/a?X-Plex-Product=Web", "UA"), "Plex for LG");
  EXPECT_EQ(client_product("", "/a?b=1&x-plex-product=Plex%20Web&c=2", "UA"), "Plex Web");
  EXPECT_EQ(client_product("", "/a?X%2DPlex%2DProduct=Plex+Web", "UA"), "Plex Web");
  EXPECT_EQ(client_product("", "/a?X-Plex-Productx=no&X-Plex-Product=", "UA"), "UA");
  EXPECT_EQ(client_product("", "/a#X-Plex-Product=frag", "UA"), "UA");
}

TEST(AccessLogFormat, NamesAreTheThreeFormats) {
  EXPECT_EQ(parse_access_log_format("combined"), AccessLogFormat::combined);
  EXPECT_EQ(parse_access_log_format("json"), AccessLogFormat::json);
  EXPECT_EQ(parse_access_log_format("plextap"), AccessLogFormat::plextap);
  EXPECT_THROW(parse_access_log_format("common"), std::invalid_argument);
}

}  // namespace
}  // namespace plextap::proxy
