// Redaction of whole exchanges before they are stored: headers, bodies in the clear or
// compressed, and the event built from them.
#include "capture/redact_exchange.hpp"

#include <gtest/gtest.h>

#include <string>

#include "capture/event.hpp"
#include "capture/exchange.hpp"
#include "tests/unit/gzip.hpp"

namespace plextap::capture {
namespace {

using plextap::testing::gzip;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr std::size_t kMax = std::size_t{8} << 20;
constexpr std::string_view kToken = "tOk3nV4lu3-9f8e";

std::string header(const Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return "<absent>";
}

std::string with_token(std::string_view before, std::string_view after) {
  return std::string(before) + std::string(kToken) + std::string(after);
}

Exchange answer(Headers response_headers, std::string body) {
  Exchange ex;
  ex.method = "GET";
  ex.target = "/myplex/account";
  ex.status = 200;
  ex.response_headers = std::move(response_headers);
  ex.response_body = std::move(body);
  return ex;
}

TEST(RedactExchange, TargetAndEveryUrlBearingHeader) {
  Exchange ex;
  ex.target = with_token("/a?X%2DPlex%2DToken=", "&b=1");
  ex.request_headers = {{"Referer", with_token("https://app.plex.tv/desktop/?X-Plex-Token=", "")},
                        {"Origin", "https://app.plex.tv"},
                        {"Authorization", with_token("Bearer ", "")},
                        {"X-Plex-Token", "REDACTED:0123456789abcdef"},
                        {"Cookie", with_token("REDACTED:", "")},
                        {"X-Plex-Client-Identifier", "c1"}};
  ex.response_headers = {{"Location", with_token("/web/index.html?X-Plex-Token=", "&x=1")},
                         {"Content-Location", with_token("/a?x-plex-token=", "")},
                         {"Link", with_token("</next?X-Plex-Token=", ">; rel=\"next\"")},
                         {"Set-Cookie", with_token("t=", "; Path=/")}};
  redact_exchange(ex, kMax);
  EXPECT_EQ(ex.target, "/a?X%2DPlex%2DToken=REDACTED&b=1");
  EXPECT_EQ(header(ex.request_headers, "Referer"),
            "https://app.plex.tv/desktop/?X-Plex-Token=REDACTED");
  EXPECT_EQ(header(ex.request_headers, "Origin"), "https://app.plex.tv");
  EXPECT_EQ(header(ex.request_headers, "Authorization"), "REDACTED");
  EXPECT_EQ(header(ex.request_headers, "X-Plex-Token"), "REDACTED:0123456789abcdef")
      << "the recorder's fingerprint stays";
  EXPECT_EQ(header(ex.request_headers, "Cookie"), "REDACTED") << "no fingerprint, a secret";
  EXPECT_EQ(header(ex.request_headers, "X-Plex-Client-Identifier"), "c1");
  EXPECT_EQ(header(ex.response_headers, "Location"), "/web/index.html?X-Plex-Token=REDACTED&x=1");
  EXPECT_EQ(header(ex.response_headers, "Content-Location"), "/a?x-plex-token=REDACTED");
  EXPECT_EQ(header(ex.response_headers, "Link"), "</next?X-Plex-Token=REDACTED>; rel=\"next\"");
  EXPECT_EQ(header(ex.response_headers, "Set-Cookie"), "REDACTED");
}

TEST(RedactExchange, PlainXmlAnswer) {
  const std::string body = with_token(R"(<MyPlex authToken=")", R"(" username="u" />)");
  auto ex =
      answer({{"Content-Type", "text/xml"}, {"Content-Length", std::to_string(body.size())}}, body);
  auto decoded = redact_exchange(ex, kMax);
  EXPECT_EQ(ex.response_body, R"(<MyPlex authToken="REDACTED" username="u" />)");
  EXPECT_EQ(header(ex.response_headers, "Content-Length"), std::to_string(ex.response_body.size()));
  EXPECT_TRUE(decoded.ok);
  EXPECT_EQ(decoded.body, ex.response_body);
  EXPECT_FALSE(ex.response_truncated);
}

// Stored decoded: the same bytes but the token, served as identity by replay.
TEST(RedactExchange, GzipJsonAnswerWithATokenIsStoredDecoded) {
  const std::string json = with_token(R"({"id":1,"authToken":")", R"(","title":"t"})");
  const std::string packed = gzip(json);
  auto ex = answer({{"Content-Type", "application/json"},
                    {"Content-Encoding", "gzip"},
                    {"Content-Length", std::to_string(packed.size())},
                    {"Vary", "Accept-Encoding"}},
                   packed);
  auto decoded = redact_exchange(ex, kMax);
  EXPECT_EQ(ex.response_body, R"({"id":1,"authToken":"REDACTED","title":"t"})");
  EXPECT_EQ(header(ex.response_headers, "Content-Encoding"), "<absent>");
  EXPECT_EQ(header(ex.response_headers, "Content-Length"), std::to_string(ex.response_body.size()));
  EXPECT_EQ(header(ex.response_headers, "Vary"), "Accept-Encoding");
  EXPECT_TRUE(decoded.ok);
  EXPECT_EQ(decoded.body, ex.response_body);
}

TEST(RedactExchange, CompressedAnswerWithoutTokensKeepsItsBytes) {
  const std::string packed = gzip(R"(<MediaContainer size="0"/>)");
  auto ex = answer({{"Content-Encoding", "gzip"}}, packed);
  auto decoded = redact_exchange(ex, kMax);
  EXPECT_EQ(ex.response_body, packed);
  EXPECT_EQ(header(ex.response_headers, "Content-Encoding"), "gzip");
  EXPECT_TRUE(decoded.ok);
  EXPECT_EQ(decoded.body, R"(<MediaContainer size="0"/>)");
}

TEST(RedactExchange, FormRequestBody) {
  Exchange ex;
  ex.method = "POST";
  ex.target = "/playQueues";
  ex.request_headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  ex.request_body = with_token("type=video&X-Plex-Token=", "&uri=server%3A%2F%2Fx");
  redact_exchange(ex, kMax);
  EXPECT_EQ(ex.request_body, "type=video&X-Plex-Token=REDACTED&uri=server%3A%2F%2Fx");
}

// A body that cannot be read cannot be checked: it does not go into the store.
TEST(RedactExchange, UnknownCodingDropsTheBody) {
  auto ex = answer({{"Content-Encoding", "br"}}, "\x0b\x02\x80 compressed bytes");
  auto decoded = redact_exchange(ex, kMax);
  EXPECT_EQ(ex.response_body, "");
  EXPECT_TRUE(ex.response_truncated);
  EXPECT_EQ(header(ex.response_headers, "Content-Encoding"), "<absent>");
  EXPECT_FALSE(decoded.ok);
}

TEST(RedactExchange, BeyondTheDecodingCapOnlyTheCheckedPrefixStays) {
  std::string xml = "<MediaContainer>";
  while (xml.size() < 4000) xml += R"(<Video title="padding"/>)";
  xml += with_token(R"(<MyPlex authToken=")", R"("/></MediaContainer>)");
  auto ex = answer({{"Content-Encoding", "gzip"}}, gzip(xml));
  redact_exchange(ex, 1000);
  EXPECT_EQ(ex.response_body, xml.substr(0, 1000));
  EXPECT_TRUE(ex.response_truncated);
  EXPECT_EQ(header(ex.response_headers, "Content-Encoding"), "<absent>");
}

// A compressed body cut by the recorder's cap: what decodes is all there is to check.
TEST(RedactExchange, CutCompressedBody) {
  std::string xml = with_token(R"(<MyPlex authToken=")", R"(" username="u">)");
  for (int i = 0; i < 200; ++i) xml += "<Server name=\"s" + std::to_string(i) + "\"/>";
  std::string packed = gzip(xml);
  auto ex = answer({{"Content-Encoding", "gzip"}}, packed.substr(0, packed.size() / 2));
  ex.response_truncated = true;
  auto decoded = redact_exchange(ex, kMax);
  EXPECT_FALSE(decoded.ok);
  EXPECT_TRUE(ex.response_body.starts_with(R"(<MyPlex authToken="REDACTED" username="u">)"))
      << ex.response_body;
  EXPECT_EQ(ex.response_body.find(kToken), std::string::npos);
  EXPECT_TRUE(ex.response_truncated);
}

// build_record: the event and the stored exchange come from the redacted exchange only.
// A body that claims a coding it does not have, or plain bytes after its gzip stream,
// is not kept as recorded when those bytes hold a token.
TEST(RedactExchange, BytesNoDecoderReadsAreScannedToo) {
  Exchange plain_as_gzip;
  plain_as_gzip.response_headers = {{"Content-Encoding", "gzip"}};
  plain_as_gzip.response_body = R"(<MyPlex authToken="claimed-gzip"/>)";
  redact_exchange(plain_as_gzip, 1 << 20);
  EXPECT_EQ(plain_as_gzip.response_body.find("claimed-gzip"), std::string::npos)
      << plain_as_gzip.response_body;

  Exchange trailing;
  trailing.response_headers = {{"Content-Encoding", "gzip"}};
  trailing.response_body = gzip("<a/>") + "X-Plex-Token=t0k";
  redact_exchange(trailing, 1 << 20);
  EXPECT_EQ(trailing.response_body.find("=t0k"), std::string::npos);
}

// A store written by an earlier version holds exchanges (format 1) whose bodies and most
// headers were kept as sent: they are redacted when read, so no export or replay shows
// their tokens. What the writer stores now (format 2) was redacted already.
TEST(ReadStoredExchange, RecordsFromBeforeRedactionAreRedactedOnRead) {
  Exchange ex;
  ex.method = "GET";
  ex.target = "/myplex/account?X%2DPlex%2DToken=old-target-token";
  ex.response_headers = {{"Content-Type", "text/xml"}, {"Location", "/x?X-Plex-Token=old-loc"}};
  ex.response_body = R"(<MyPlex authToken="old-body-token" username="u"/>)";
  const std::string current = encode_exchange(ex);
  ASSERT_EQ(current.front(), 2);
  const std::string before = "\x01" + current.substr(5);  // format 1: no checksum
  ASSERT_TRUE(exchange_predates_redaction(before));
  ASSERT_FALSE(exchange_predates_redaction(current));

  auto old = read_stored_exchange(before);
  ASSERT_TRUE(old);
  std::string all = old->target + old->response_body;
  for (const auto& [n, v] : old->response_headers) all += v;
  for (const char* secret : {"old-target-token", "old-loc", "old-body-token"})
    EXPECT_EQ(all.find(secret), std::string::npos) << secret << " in " << all;
  EXPECT_NE(old->response_body.find(R"(username="u")"), std::string::npos);

  auto now = read_stored_exchange(current);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->response_body, ex.response_body) << "format 2 is read as stored";
}

TEST(BuildRecord, NoTokenInTheEventOrTheStoredExchange) {
  CapturedExchange c;
  c.route = std::nullopt;
  Exchange& ex = c.exchange;
  ex.ts_ms = 1'732'449'600'000;
  ex.method = "POST";
  ex.status = 302;
  ex.target = with_token("/photo/:/transcode?url=%252Fp%25253FX-Plex-Token%25253D", "&w=1") +
              with_token("&X%252DPlex%252DToken=", "") + with_token("&x%2dplex%2dtoken=", "");
  ex.request_headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  ex.request_body = with_token("X-Plex-Token=", "");
  ex.response_headers = {{"Location", with_token("/a?X-Plex-Token=", "")},
                         {"Content-Type", "application/json"},
                         {"Content-Encoding", "gzip"}};
  ex.response_body = gzip(with_token(R"({"user":{"authToken":")", R"("}})"));
  auto record = build_record(std::move(c));
  EXPECT_EQ(record.json.find(kToken), std::string::npos) << record.json;
  EXPECT_EQ(record.exchange.find(kToken), std::string::npos);
  EXPECT_NE(record.json.find(R"("params":{"url":"%2Fp%253FX-Plex-Token%253DREDACTED","w":"1"})"),
            std::string::npos)
      << record.json;
  auto stored = decode_exchange(record.exchange);
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->response_body, R"({"user":{"authToken":"REDACTED"}})");
  EXPECT_EQ(stored->request_body, "X-Plex-Token=REDACTED");
}

}  // namespace
}  // namespace plextap::capture
