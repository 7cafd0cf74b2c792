// Replay's pure parts: what two requests must share to get the same recorded answer,
// HAR import (ours, a browser's, broken ones), the stand-in's answer order and encoding,
// token substitution for re-sending, and the field diff.
#include <gtest/gtest.h>

#include "replay/diff.hpp"
#include "replay/match.hpp"
#include "replay/resender.hpp"
#include "replay/source.hpp"
#include "replay/stand_in.hpp"
#include "tests/unit/gzip.hpp"

namespace plextap::replay {
namespace {

const MatchRules kNoRules{};

TEST(MatchKey, IgnoresTokenClientParametersAndVolatileOnes) {
  auto key = match_key("GET", "/hubs/search?query=up&limit=10", kNoRules);
  EXPECT_EQ(match_key("GET",
                      "/hubs/search?X-Plex-Token=abc&limit=10&x-plex-client-identifier=c1&"
                      "X-Plex-Features=a%2Cb&query=up&_=1732&time=5&playbackTime=9",
                      kNoRules),
            key);
  EXPECT_NE(match_key("GET", "/hubs/search?query=down&limit=10", kNoRules), key);
  EXPECT_NE(match_key("POST", "/hubs/search?query=up&limit=10", kNoRules), key);
  EXPECT_NE(match_key("GET", "/hubs/search/voice?query=up&limit=10", kNoRules), key);
  EXPECT_NE(match_key("GET", "/hubs/search?query=up", kNoRules), key);
  // Decoded before comparing: the same value written two ways is the same value.
  EXPECT_EQ(match_key("GET", "/hubs/search?query=u%70&limit=10", kNoRules), key);
  // A value holding separators cannot be confused with two parameters.
  EXPECT_NE(match_key("GET", "/p?a=1%26b%3D2", kNoRules), match_key("GET", "/p?a=1&b=2", kNoRules));
}

TEST(MatchKey, IgnoreParamRulesAreExactNames) {
  MatchRules rules{{"includeRelated"}};
  EXPECT_EQ(match_key("GET", "/playQueues/5?includeRelated=1&own=1", rules),
            match_key("GET", "/playQueues/5?own=1", rules));
  EXPECT_NE(match_key("GET", "/playQueues/5?IncludeRelated=1&own=1", rules),
            match_key("GET", "/playQueues/5?own=1", rules));
}

TEST(MatchKey, DescribesWhatWasMatchedOn) {
  EXPECT_EQ(
      describe_key("GET", "/library/sections/1/all?type=1&X-Plex-Token=t&sort=title", kNoRules),
      "GET /library/sections/1/all?sort=title&type=1");
  EXPECT_EQ(describe_key("PUT", "/:/scrobble", kNoRules), "PUT /:/scrobble");
}

std::string entry(std::string_view started, std::string_view url, std::string_view response,
                  std::string_view extra_request = "") {
  std::string e = R"({"startedDateTime":")";
  e += started;
  e += R"(","time":12.5,"request":{"method":"GET","url":")";
  e += url;
  e += R"(","headers":[)";
  e += extra_request;
  e += R"(]},"response":)";
  e += response;
  e += "}";
  return e;
}

std::string har(std::initializer_list<std::string> entries, std::string_view version = "1.2") {
  std::string out = R"({"log":{"version":")";
  out += version;
  out += R"(","creator":{"name":"t","version":"1"},"entries":[)";
  bool first = true;
  for (const auto& e : entries) {
    if (!first) out += ",";
    first = false;
    out += e;
  }
  return out + "]}}";
}

TEST(ParseHar, ReadsBrowserEntries) {
  auto recorded = parse_har(har({
      // HTTP/2 as a browser records it: pseudo-headers, no Host, decoded content that still
      // names its Content-Encoding, a time zone offset.
      entry(
          "2026-11-24T21:00:01.250+01:00", "https://plex.example:32400/identity?x=1#frag",
          R"({"status":200,"headers":[{"name":"content-encoding","value":"gzip"},)"
          R"({"name":"content-type","value":"text/xml"},{"name":"content-length","value":"9"}],)"
          R"("content":{"size":5,"text":"<a/>\n"}})",
          R"({"name":":authority","value":"plex.example:32400"},{"name":"Accept","value":"*/*"})"),
      // Blocked by the browser: no answer, nothing to replay.
      entry("2026-11-24T20:00:00.500Z", "http://plex/blocked", R"({"status":0,"headers":[]})"),
      // Binary content as base64; earlier than the first, so it comes first.
      entry("2026-11-24T20:00:00.000Z", "http://plex/photo",
            R"({"status":200,"headers":[],"content":{"text":"AAEC/w==","encoding":"base64"}})"),
  }));
  ASSERT_EQ(recorded.size(), 2u);
  const auto& photo = recorded[0].exchange;
  EXPECT_EQ(photo.target, "/photo");
  EXPECT_EQ(photo.response_body, std::string("\x00\x01\x02\xff", 4));
  const auto& identity = recorded[1].exchange;
  EXPECT_EQ(recorded[1].id, 1u) << "ids are positions in the file";
  EXPECT_EQ(identity.ts_ms, 1795550401250);
  EXPECT_EQ(identity.latency_us, 12500u);
  EXPECT_TRUE(identity.tls);
  EXPECT_EQ(identity.method, "GET");
  EXPECT_EQ(identity.target, "/identity?x=1");
  ASSERT_EQ(identity.request_headers.size(), 2u);
  EXPECT_EQ(identity.request_headers[0].first, "Accept");
  EXPECT_EQ(identity.request_headers[1],
            (std::pair<std::string, std::string>{"Host", "plex.example:32400"}));
  ASSERT_EQ(identity.response_headers.size(), 1u) << "encoding and length describe other bytes";
  EXPECT_EQ(identity.response_headers[0].first, "content-type");
  EXPECT_EQ(identity.response_body, "<a/>\n");
  EXPECT_TRUE(recorded[1].body_decoded);
}

TEST(ParseHar, RedactsTokensOtherToolsKeptInTheClear) {
  auto recorded = parse_har(har({entry(
      "2026-11-24T20:00:00Z",
      "http://plex/photo/:/transcode?url=%2Fp%3FX-Plex-Token%3Dnested1&X-Plex-Token=plain1",
      R"({"status":200,"headers":[{"name":"Set-Cookie","value":"s=cookie1"}],"content":{"text":"x"}})",
      R"({"name":"X-Plex-Token","value":"header1"},{"name":"Authorization","value":"Bearer auth1"},)"
      R"({"name":"Referer","value":"http://plex/web?X-Plex-Token=referer1"})")}));
  ASSERT_EQ(recorded.size(), 1u);
  const auto& ex = recorded[0].exchange;
  EXPECT_EQ(ex.target,
            "/photo/:/transcode?url=%2Fp%3FX-Plex-Token%3DREDACTED&X-Plex-Token=REDACTED");
  std::string all = ex.target;
  for (const auto& [n, v] : ex.request_headers) all += n + ":" + v + "\n";
  for (const auto& [n, v] : ex.response_headers) all += n + ":" + v + "\n";
  for (const char* secret : {"nested1", "plain1", "header1", "auth1", "referer1", "cookie1"})
    EXPECT_EQ(all.find(secret), std::string::npos) << secret << " in " << all;
  EXPECT_NE(all.find("X-Plex-Token:REDACTED\n"), std::string::npos) << all;
}

TEST(ParseHar, RedactsTokensInBodiesAndEveryHeader) {
  auto recorded = parse_har(har(
      {entry("2026-11-24T20:00:00Z", "http://plex/myplex/account",
             R"({"status":200,"headers":[{"name":"Location","value":"/x?X%2DPlex%2DToken=loc1"},)"
             R"({"name":"Link","value":"</y?X-Plex-Token=link1>"}],)"
             R"("content":{"text":"<MyPlex authToken=\"body1\" username=\"u\"/>"}})",
             R"({"name":"X-Other","value":"a?X-Plex-Token=other1"})")}));
  ASSERT_EQ(recorded.size(), 1u);
  const auto& ex = recorded[0].exchange;
  std::string all = ex.response_body;
  for (const auto& [n, v] : ex.request_headers) all += n + ":" + v + "\n";
  for (const auto& [n, v] : ex.response_headers) all += n + ":" + v + "\n";
  for (const char* secret : {"loc1", "link1", "body1", "other1"})
    EXPECT_EQ(all.find(secret), std::string::npos) << secret << " in " << all;
  EXPECT_NE(ex.response_body.find(R"(username="u")"), std::string::npos) << ex.response_body;
}

TEST(ParseHar, RefusesBrokenFilesWithOneClearReason) {
  auto message = [](std::string_view text) {
    try {
      parse_har(text, "f.har");
    } catch (const SourceError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  std::string good = har({entry("2026-11-24T20:00:00Z", "http://plex/a",
                                R"({"status":200,"headers":[],"content":{"text":"x"}})")});
  EXPECT_EQ(parse_har(good).size(), 1u);
  EXPECT_EQ(message(good.substr(0, good.size() - 10)).find("f.har: not a HAR file: not valid JSON"),
            0u);
  EXPECT_EQ(message(R"([1,2])"), R"(f.har: not a HAR file: no "log" object)");
  EXPECT_EQ(message(R"({"log":{"entries":[]}})"), "f.har: not a HAR file: log.version is missing");
  EXPECT_EQ(message(har({}, "2.0")), R"(f.har: unknown HAR version "2.0" (1.1 and 1.2 are read))");
  EXPECT_EQ(message(R"({"log":{"version":"1.2","entries":{}}})"),
            "f.har: not a HAR file: log.entries is not an array");
  EXPECT_EQ(message(har({entry("yesterday", "http://plex/a", R"({"status":200})")})),
            "f.har: entry 1: startedDateTime is not an RFC 3339 time");
  EXPECT_EQ(message(har({entry("2026-11-24T20:00:00Z", "/relative", R"({"status":200})")})),
            "f.har: entry 1: request.url is not an absolute URL");
  EXPECT_EQ(message(har({entry("2026-11-24T20:00:00Z", "http://plex/a",
                               R"({"status":200,"content":{"text":"!!","encoding":"base64"}})")})),
            "f.har: entry 1: response.content.text is not valid base64");
  EXPECT_EQ(message(har({entry("2026-11-24T20:00:00Z", "http://plex/a", R"({"headers":[]})")})),
            "f.har: entry 1: response.status is missing");
}

using plextap::testing::gzip;

RecordedExchange recorded(std::uint64_t id, std::string target, std::string body,
                          std::vector<std::pair<std::string, std::string>> headers = {}) {
  RecordedExchange r;
  r.id = id;
  r.exchange.method = "GET";
  r.exchange.target = std::move(target);
  r.exchange.status = 200;
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

TEST(StandIn, RepeatedMatchesInRecordedOrderThenTheLast) {
  StandIn s({recorded(1, "/status/sessions?X-Plex-Token=REDACTED", "first"),
             recorded(2, "/identity", "identity"),
             recorded(3, "/status/sessions?X-Plex-Token=REDACTED", "second")},
            kNoRules);
  EXPECT_EQ(s.exchanges(), 3u);
  EXPECT_EQ(s.keys(), 2u);
  EXPECT_EQ(ask(s, "/status/sessions?X-Plex-Token=real")->body, "first");
  EXPECT_EQ(ask(s, "/status/sessions")->body, "second");
  EXPECT_EQ(ask(s, "/status/sessions")->body, "second");
  EXPECT_EQ(ask(s, "/identity")->body, "identity");
  EXPECT_EQ(s.hits(), 4u);
  EXPECT_EQ(s.misses(), 0u);
}

TEST(StandIn, HeadIsAnsweredLikeTheRecordedGet) {
  StandIn s({recorded(1, "/identity", "identity")}, kNoRules);
  auto reply = s.respond(proxy::LocalRequest{"HEAD", "/identity", {}});
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(s.respond(proxy::LocalRequest{"POST", "/identity", {}})->status, 404u);
}

TEST(StandIn, HeadDoesNotUseUpTheGetsAnswers) {
  StandIn s({recorded(1, "/status/sessions", "first"), recorded(2, "/status/sessions", "second")},
            kNoRules);
  EXPECT_EQ(s.respond(proxy::LocalRequest{"HEAD", "/status/sessions", {}})->body, "first");
  EXPECT_EQ(ask(s, "/status/sessions")->body, "first");
  EXPECT_EQ(s.respond(proxy::LocalRequest{"HEAD", "/status/sessions", {}})->body, "second");
}

TEST(StandIn, RecordedHeadKeepsItsContentLength) {
  auto r = recorded(1, "/library/parts/1/file.mkv", "", {{"Content-Length", "123456"}});
  r.exchange.method = "HEAD";
  StandIn s({r}, kNoRules);
  auto reply = s.respond(proxy::LocalRequest{"HEAD", "/library/parts/1/file.mkv", {}});
  EXPECT_TRUE(reply->head_has_length);
  EXPECT_NE(reply->head.find("Content-Length: 123456\r\n"), std::string::npos) << reply->head;
  EXPECT_FALSE(ask(s, "/identity")->head_has_length);
}

TEST(StandIn, HeadHasNoFramingAndNamesTheExchange) {
  StandIn s({recorded(7, "/a", "body",
                      {{"Content-Type", "text/xml"},
                       {"Content-Length", "999"},
                       {"Transfer-Encoding", "chunked"},
                       {"Connection", "close"},
                       {"Set-Cookie", "REDACTED:0011"}})},
            kNoRules);
  auto reply = ask(s, "/a");
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(reply->head, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nX-Plextap-Replayed: 7\r\n");
}

TEST(StandIn, CompressedAnswerDecodedForClientsThatDoNotAcceptIt) {
  const std::string plain = "<MediaContainer size=\"0\"/>";
  StandIn s({recorded(1, "/a", gzip(plain), {{"Content-Encoding", "gzip"}})}, kNoRules);
  auto encoded = ask(s, "/a", "gzip, deflate");
  EXPECT_EQ(encoded->body, gzip(plain));
  EXPECT_NE(encoded->head.find("Content-Encoding: gzip\r\n"), std::string::npos);
  auto decoded = ask(s, "/a", "identity");
  EXPECT_EQ(decoded->body, plain);
  EXPECT_EQ(decoded->head.find("Content-Encoding"), std::string::npos);
  EXPECT_EQ(ask(s, "/a")->body, plain);
  EXPECT_EQ(ask(s, "/a", "br, gzip;q=0")->body, plain) << "q=0 refuses";
  EXPECT_EQ(ask(s, "/a", "GZIP;q=0.5")->body, gzip(plain));
  EXPECT_EQ(ask(s, "/a", "*")->body, gzip(plain));
  EXPECT_EQ(ask(s, "/a", "*, gzip;q=0.0")->body, plain);
  EXPECT_EQ(ask(s, "/a", "x-gzipped")->body, plain) << "a token, not a substring";
}

TEST(StandIn, MissSaysWhatWasAskedWithoutTheToken) {
  StandIn s({recorded(1, "/a", "x")}, kNoRules);
  auto reply =
      ask(s,
          "/photo/:/"
          "transcode?url=%2Flibrary%2Fparts%3FX-Plex-Token%3Dsecret1&X-Plex-Token=secret2&w=1");
  EXPECT_EQ(reply->status, 404u);
  EXPECT_NE(reply->body.find("no recorded exchange matches GET /photo/:/transcode?url="),
            std::string::npos)
      << reply->body;
  EXPECT_NE(reply->body.find("w=1"), std::string::npos);
  EXPECT_EQ(reply->body.find("secret"), std::string::npos) << reply->body;
  EXPECT_EQ(s.misses(), 1u);
  EXPECT_NE(s.metrics_text().find("plextap_replay_requests_total{result=\"miss\"} 1\n"),
            std::string::npos);
}

TEST(Resendable, OnlyAnsweredExchangesThatOpenedNoTunnel) {
  EXPECT_TRUE(resendable(recorded(1, "/a", "x")));
  auto gone = recorded(2, "/a", "");
  gone.exchange.status = 0;  // the client went away, or the upstream failed
  EXPECT_FALSE(resendable(gone));
  auto ws = recorded(3, "/:/websockets/notifications", "");
  ws.exchange.request_headers = {{"Upgrade", "websocket"}};
  EXPECT_FALSE(resendable(ws));
}

TEST(DiffEventFields, NamesEachFieldThatDiffers) {
  auto diffs = diff_event_fields(
      R"({"ts":"a","latency_ms":1,"status":200,"kind":"decision","general_decision":{"code":1000,"text":"ok"},"video":{"decision":"copy"},"items":["1","2"],"gone":1,"user":{"token_fp":"x"}})",
      R"({"ts":"b","latency_ms":9,"status":500,"kind":"decision","general_decision":{"code":1001,"text":"ok"},"video":{"decision":"copy"},"items":["2","1"],"new":true,"user":{"token_fp":"y"}})");
  ASSERT_EQ(diffs.size(), 4u);
  EXPECT_EQ(diffs[0].field, "general_decision.code");
  EXPECT_EQ(diffs[0].then, "1000");
  EXPECT_EQ(diffs[0].now, "1001");
  EXPECT_EQ(diffs[1].field, "items");
  EXPECT_EQ(diffs[1].then, R"(["1","2"])");
  EXPECT_EQ(diffs[2].field, "gone");
  EXPECT_EQ(diffs[2].now, "absent");
  EXPECT_EQ(diffs[3].field, "new");
  EXPECT_EQ(diffs[3].then, "absent");
  EXPECT_TRUE(diff_event_fields(R"({"a":{"b":[1]}})", R"({"a":{"b":[1]}})").empty());
}

TEST(DiffEventFields, BuildsFieldsWithTheRecordersParsers) {
  capture::Exchange ex;
  ex.method = "PUT";
  ex.target = "/:/rate?key=65547&identifier=com.plexapp.plugins.library&rating=8";
  ex.status = 200;
  auto then = event_fields(ex);
  ASSERT_TRUE(then);
  ex.target = "/:/rate?key=65547&identifier=com.plexapp.plugins.library&rating=6";
  auto diffs = diff_event_fields(*then, *event_fields(ex));
  ASSERT_EQ(diffs.size(), 1u) << *then;
  EXPECT_EQ(diffs[0].field, "rating");
  ex.target = "/library/sections";
  EXPECT_FALSE(event_fields(ex)) << "an untapped call has no event fields";
}

}  // namespace
}  // namespace plextap::replay
