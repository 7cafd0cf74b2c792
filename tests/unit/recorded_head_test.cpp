// What replay serve makes of a recording it cannot trust: field names and values checked
// against RFC 9110 before a head is built, framing left to the session, statuses and
// compressed bodies bounded.
#include "replay/recorded_head.hpp"

#include <gtest/gtest.h>

#include "replay/resender.hpp"
#include "replay/stand_in.hpp"
#include "tests/unit/gzip.hpp"

namespace plextap::replay {
namespace {

TEST(RecordedHeadSyntax, TokensAndFieldValues) {
  EXPECT_TRUE(is_token("Content-Type"));
  EXPECT_TRUE(is_token("X-Plex-Protocol"));
  EXPECT_TRUE(is_token("!#$%&'*+-.^_`|~09azAZ"));
  for (std::string_view bad :
       {"", "X Bad", "X:Colon", "X\tTab", "X\r\nY", "(x)", "a/b", "\"q\"", "x=y", "\xC3\xBC"})
    EXPECT_FALSE(is_token(bad)) << bad;
  EXPECT_FALSE(is_token(std::string_view("X\0Y", 3)));

  EXPECT_TRUE(is_field_value(""));
  EXPECT_TRUE(is_field_value("text/xml; charset=utf-8"));
  EXPECT_TRUE(is_field_value(" a\tb "));
  EXPECT_TRUE(
      is_field_value("attachment; filename=\"K\xC3\xBC"
                     "che.mkv\""))
      << "obs-text";
  for (std::string_view bad : {"a\rb", "a\nb", "a\r\nX-Injected: 1", "\x7f", "\x1b[2J", "\x0b"})
    EXPECT_FALSE(is_field_value(bad)) << bad;
  EXPECT_FALSE(is_field_value(std::string_view("a\0b", 3)));

  EXPECT_FALSE(is_valid_status(0));
  EXPECT_FALSE(is_valid_status(99));
  EXPECT_TRUE(is_valid_status(100));
  EXPECT_TRUE(is_valid_status(999));
  EXPECT_FALSE(is_valid_status(1000));
  EXPECT_FALSE(is_valid_status(200200));
}

TEST(RecordedHeadSyntax, StatusLineHasAStandardReasonOrNone) {
  EXPECT_EQ(status_line(200), "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(status_line(404), "HTTP/1.1 404 Not Found\r\n");
  EXPECT_EQ(status_line(799), "HTTP/1.1 799 \r\n");
  EXPECT_EQ(status_line(999), "HTTP/1.1 999 \r\n");
}

capture::Exchange exchange(std::vector<std::pair<std::string, std::string>> headers,
                           std::string method = "GET") {
  capture::Exchange ex;
  ex.method = std::move(method);
  ex.target = "/a";
  ex.status = 200;
  ex.response_headers = std::move(headers);
  return ex;
}

TEST(RecordedHead, InvalidFieldsAreLeftOutAndCounted) {
  auto head = recorded_head(exchange({{"Content-Type", "text/xml"},
                                      {"X-Split", "a\r\nX-Injected: 1"},
                                      {"X-Second", "x\r\n\r\nHTTP/1.1 200 OK\r\n\r\nforged"},
                                      {"X-Lf", "a\nb"},
                                      {"X-Nul", std::string("a\0b", 3)},
                                      {"X Space", "v"},
                                      {"X:Colon", "v"},
                                      {"", "v"},
                                      {"X-Plex-Protocol", "  1.0 "}}),
                            true);
  EXPECT_EQ(head.invalid, 7u);
  EXPECT_EQ(head.head, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nX-Plex-Protocol: 1.0\r\n");
  EXPECT_FALSE(head.has_length);
}

TEST(RecordedHead, FramingHopByHopAndOurMarkersAreTheSessions) {
  auto head = recorded_head(exchange({{"Content-Length", "5"},
                                      {"transfer-encoding", "chunked"},
                                      {"Connection", "keep-alive, X-Hop"},
                                      {"X-Hop", "only for the recorded connection"},
                                      {"Keep-Alive", "timeout=5"},
                                      {"Upgrade", "websocket"},
                                      {"Trailer", "X-Sum"},
                                      {"Proxy-Authenticate", "Basic"},
                                      {"Set-Cookie", "REDACTED:00ff"},
                                      {"X-Plextap-Replayed", "999"},
                                      {"X-Plextap-Truncated", "forged"},
                                      {"Content-Encoding", "gzip"},
                                      {"Vary", "Accept-Encoding"}}),
                            true);
  EXPECT_EQ(head.invalid, 0u);
  EXPECT_EQ(head.head, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
  auto decoded = recorded_head(exchange({{"Content-Encoding", "gzip"}, {"Vary", "x"}}), false);
  EXPECT_EQ(decoded.head, "HTTP/1.1 200 OK\r\nVary: x\r\n");
}

TEST(RecordedHead, AnswerToHeadKeepsOneValidLength) {
  auto head =
      recorded_head(exchange({{"Content-Length", "12"}, {"Content-Length", "13"}}, "HEAD"), true);
  EXPECT_TRUE(head.has_length);
  EXPECT_EQ(head.head, "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n");
  auto bad = recorded_head(exchange({{"Content-Length", "12, 13"}}, "HEAD"), true);
  EXPECT_FALSE(bad.has_length);
  EXPECT_EQ(bad.invalid, 1u);
  EXPECT_EQ(bad.head, "HTTP/1.1 200 OK\r\n");
}

RecordedExchange recorded(std::uint64_t id, std::string target, unsigned status,
                          std::vector<std::pair<std::string, std::string>> headers,
                          std::string body = "x") {
  RecordedExchange r;
  r.id = id;
  r.exchange.method = "GET";
  r.exchange.target = std::move(target);
  r.exchange.status = status;
  r.exchange.response_headers = std::move(headers);
  r.exchange.response_body = std::move(body);
  return r;
}

std::shared_ptr<const proxy::LocalReply> ask(StandIn& s, std::string_view target,
                                             std::string_view accept_encoding = "") {
  std::vector<capture::Header> headers;
  if (!accept_encoding.empty()) headers.push_back({"Accept-Encoding", accept_encoding});
  return s.respond(proxy::LocalRequest{"GET", target, headers});
}

std::size_t count(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

double metric(const std::string& text, const std::string& name) {
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

TEST(StandInBounds, InvalidHeadersAndStatusesAreCountedNeverServed) {
  StandIn s({recorded(1, "/a", 200, {{"X-Ok", "1"}, {"X-Bad", "1\r\nX-Injected: 1"}, {"X Y", "1"}}),
             recorded(2, "/b", 1200, {}), recorded(3, "/c", 0, {}), recorded(4, "/d", 799, {})},
            {});
  EXPECT_EQ(s.invalid_headers(), 2u);
  EXPECT_EQ(s.invalid_exchanges(), 2u);
  EXPECT_EQ(s.exchanges(), 2u);
  auto a = ask(s, "/a");
  EXPECT_EQ(a->head, "HTTP/1.1 200 OK\r\nX-Ok: 1\r\nX-Plextap-Replayed: 1\r\n");
  EXPECT_EQ(ask(s, "/b")->status, 404u);
  EXPECT_EQ(ask(s, "/d")->head, "HTTP/1.1 799 \r\nX-Plextap-Replayed: 4\r\n");
  auto metrics = s.metrics_text();
  EXPECT_EQ(metric(metrics, "plextap_replay_invalid_headers_total"), 2) << metrics;
  EXPECT_EQ(metric(metrics, "plextap_replay_invalid_exchanges_total"), 2) << metrics;
}

TEST(StandInBounds, CompressedBodyStaysCompressedAndIsDecodedPerRequestWithinTheCap) {
  const std::string bomb =
      plextap::testing::gzip(std::string(StandIn::kDecodedBodyCap + 1000, 'z'));
  const std::string small = plextap::testing::gzip("<MediaContainer/>");
  StandIn s({recorded(1, "/bomb", 200, {{"Content-Encoding", "gzip"}}, bomb),
             recorded(2, "/small", 200, {{"Content-Encoding", "gzip"}}, small)},
            {});
  auto as_recorded = ask(s, "/bomb", "gzip");
  EXPECT_EQ(as_recorded->body, bomb);
  auto decoded = ask(s, "/bomb");
  EXPECT_EQ(decoded->body.size(), StandIn::kDecodedBodyCap);
  EXPECT_EQ(decoded->body.find_first_not_of('z'), std::string::npos);
  EXPECT_EQ(decoded->head.find("Content-Encoding"), std::string::npos) << decoded->head;
  EXPECT_NE(decoded->head.find("X-Plextap-Truncated: the decoded body was cut"), std::string::npos)
      << decoded->head;
  EXPECT_EQ(ask(s, "/small")->body, "<MediaContainer/>");
  EXPECT_EQ(ask(s, "/small")->head.find("X-Plextap-Truncated"), std::string::npos);
  auto metrics = s.metrics_text();
  EXPECT_EQ(metric(metrics, "plextap_replay_decoded_total{result=\"cut\"}"), 1) << metrics;
  EXPECT_EQ(metric(metrics, "plextap_replay_decoded_total{result=\"ok\"}"), 2) << metrics;
}

TEST(StandInBounds, DecodedAnswersInFlightAreBounded) {
  const std::string bomb = plextap::testing::gzip(std::string(StandIn::kDecodedBodyCap, 'z'));
  StandIn s({recorded(1, "/bomb", 200, {{"Content-Encoding", "gzip"}}, bomb)}, {});
  std::vector<std::shared_ptr<const proxy::LocalReply>> held;
  for (std::size_t i = 0; i < StandIn::kDecodedInFlight / StandIn::kDecodedBodyCap; ++i) {
    held.push_back(ask(s, "/bomb"));
    EXPECT_EQ(held.back()->status, 200u);
    EXPECT_EQ(held.back()->body.size(), StandIn::kDecodedBodyCap);
  }
  auto refused = ask(s, "/bomb");
  EXPECT_EQ(refused->status, 503u);
  EXPECT_NE(refused->head.find("Retry-After: 1\r\n"), std::string::npos);
  EXPECT_EQ(ask(s, "/bomb", "gzip")->body, bomb) << "the recorded bytes need no decoding";
  held.pop_back();  // a session let go of its answer
  EXPECT_EQ(ask(s, "/bomb")->status, 200u);
  EXPECT_EQ(metric(s.metrics_text(), "plextap_replay_decoded_total{result=\"busy\"}"), 1);
}

TEST(StandInBounds, UndecodableBodyIsServedAsRecorded) {
  std::string letters;
  for (unsigned i = 0, x = 1; i < 100000; ++i, x = x * 1103515245 + 12345)
    letters += static_cast<char>('a' + (x >> 16) % 26);
  const std::string gz = plextap::testing::gzip(letters);
  ASSERT_GT(gz.size(), 4000u);
  auto cut_by_recorder =
      recorded(2, "/cut", 200, {{"Content-Encoding", "gzip"}}, gz.substr(0, 2000));
  cut_by_recorder.exchange.response_truncated = true;
  StandIn s({recorded(1, "/br", 200, {{"Content-Encoding", "br"}}, "\x0b\x02\x80"), cut_by_recorder,
             recorded(3, "/corrupt", 200, {{"Content-Encoding", "gzip"}}, gz.substr(0, 2000))},
            {});
  auto br = ask(s, "/br");
  EXPECT_EQ(br->body, "\x0b\x02\x80");
  EXPECT_NE(br->head.find("Content-Encoding: br\r\n"), std::string::npos);
  auto cut = ask(s, "/cut");
  EXPECT_FALSE(cut->body.empty());
  EXPECT_TRUE(letters.starts_with(cut->body));
  EXPECT_NE(cut->head.find("X-Plextap-Truncated: the body was cut at the recorder's body cap"),
            std::string::npos)
      << cut->head;
  EXPECT_EQ(count(cut->head, "X-Plextap-Truncated"), 1u) << cut->head;
  auto corrupt = ask(s, "/corrupt");
  EXPECT_EQ(corrupt->body, cut->body);
  EXPECT_NE(corrupt->head.find("X-Plextap-Truncated: the recorded body does not decode past"),
            std::string::npos)
      << corrupt->head;
  auto metrics = s.metrics_text();
  EXPECT_EQ(metric(metrics, "plextap_replay_decoded_total{result=\"failed\"}"), 1) << metrics;
  EXPECT_EQ(metric(metrics, "plextap_replay_decoded_total{result=\"partial\"}"), 2) << metrics;
}

TEST(ResendBounds, ARequestLineARecordingWouldSplitIsNotSent) {
  auto ok = recorded(1, "/library/sections?x=%0D%0A", 200, {});
  EXPECT_TRUE(resendable(ok));
  const std::vector<std::string> bad_targets{"/a b", "/a\r\nX-Injected: 1", std::string("/a\0", 3),
                                             ""};
  for (const auto& target : bad_targets) {
    auto bad = ok;
    bad.exchange.target = target;
    EXPECT_FALSE(resendable(bad)) << target;
  }
  auto bad_method = ok;
  bad_method.exchange.method = "GET /x HTTP/1.1\r\n";
  EXPECT_FALSE(resendable(bad_method));
}

}  // namespace
}  // namespace plextap::replay
