// The proxy's framing decisions (proxy/framing.hpp): which request heads are refused and
// why, what the server and the client get written, and how bodies are re-framed.
#include "proxy/framing.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace plextap::proxy {
namespace {

struct Head {
  std::string method = "GET";
  std::string target = "/library/sections";
  unsigned version = 11;
  std::vector<std::pair<std::string, std::string>> fields{{"Host", "plex.example:32443"}};

  // Views into this Head, so it must outlive the result.
  RequestHeadIn view() {
    views.clear();
    for (auto& [n, v] : fields) views.push_back({n, v});
    return {method, target, version, views};
  }
  std::vector<Field> views;
};

RequestPlan plan(Head& h) {
  return plan_request(h.view(), "127.0.0.1:32400");
}

std::string forwarded(Head& h, std::string_view remote = "10.0.0.9", bool tls = true) {
  auto in = h.view();
  auto p = plan_request(in, "127.0.0.1:32400");
  EXPECT_EQ(p.reject, 0u) << p.reason;
  std::string out;
  write_request_head(out, in, p, remote, tls);
  return out;
}

std::size_t count(const std::string& s, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1)) ++n;
  return n;
}

TEST(FramingRequest, PlainGetIsForwardedWithTheProxysOwnFields) {
  Head h;
  h.fields.push_back({"X-Plex-Token", "secret"});
  h.fields.push_back({"Connection", "keep-alive"});
  h.fields.push_back({"Keep-Alive", "timeout=5"});
  auto out = forwarded(h);
  EXPECT_EQ(out,
            "GET /library/sections HTTP/1.1\r\n"
            "Host: plex.example:32443\r\n"
            "X-Plex-Token: secret\r\n"
            "X-Forwarded-For: 10.0.0.9\r\n"
            "X-Forwarded-Proto: https\r\n"
            "X-Forwarded-Host: plex.example:32443\r\n"
            "X-Real-IP: 10.0.0.9\r\n"
            "\r\n");
  auto p = plan(h);
  EXPECT_TRUE(p.keep_alive);
  EXPECT_TRUE(p.idempotent);
  EXPECT_EQ(p.body, Framing::none);
}

TEST(FramingRequest, ConnectionNamingFramingOrHostIsRefused) {
  for (std::string value : {"Content-Length", "keep-alive, content-length", "TRANSFER-ENCODING",
                            "close,Host", " host "}) {
    Head h;
    h.method = "POST";
    h.fields.push_back({"Connection", value});
    h.fields.push_back({"Content-Length", "5"});
    EXPECT_EQ(plan(h).reject, 400u) << value;
  }
  Head proxy_connection;
  proxy_connection.fields.push_back({"Proxy-Connection", "Content-Length"});
  EXPECT_EQ(plan(proxy_connection).reject, 400u);
}

TEST(FramingRequest, FieldsNamedByConnectionAreNotForwarded) {
  Head h;
  h.fields.push_back({"Connection", "X-Secret, keep-alive"});
  h.fields.push_back({"x-secret", "1"});
  h.fields.push_back({"X-Kept", "2"});
  auto out = forwarded(h);
  EXPECT_EQ(out.find("x-secret"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Kept: 2\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Connection"), std::string::npos) << out;
}

TEST(FramingRequest, TransferEncodingListsAreReadWhole) {
  struct Case {
    std::vector<std::string> values;
    unsigned status;
  };
  for (const auto& c : std::vector<Case>{{{"chunked"}, 0},
                                         {{"Chunked"}, 0},
                                         {{" chunked "}, 0},
                                         {{",chunked"}, 0},
                                         {{"chunked, identity"}, 400},
                                         {{"chunked", "gzip"}, 400},
                                         {{"xchunked"}, 400},
                                         {{"chunked;q=1"}, 400},
                                         {{"chunked, chunked"}, 400},
                                         {{""}, 400},
                                         {{"gzip, chunked"}, 501},
                                         {{"gzip", "chunked"}, 501}}) {
    Head h;
    h.method = "POST";
    for (auto& v : c.values) h.fields.push_back({"Transfer-Encoding", v});
    auto p = plan(h);
    EXPECT_EQ(p.reject, c.status) << c.values.front();
    if (c.status == 0) {
      EXPECT_EQ(p.body, Framing::chunked);
      auto out = forwarded(h);
      EXPECT_EQ(count(out, "Transfer-Encoding"), 1u) << out;
      EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << out;
    }
  }
}

TEST(FramingRequest, TransferEncodingWithLengthOrInHttp10IsRefused) {
  Head both;
  both.method = "POST";
  both.fields.push_back({"Transfer-Encoding", "chunked"});
  both.fields.push_back({"Content-Length", "5"});
  EXPECT_EQ(plan(both).reject, 400u);
  Head old;
  old.method = "POST";
  old.version = 10;
  old.fields.push_back({"Transfer-Encoding", "chunked"});
  EXPECT_EQ(plan(old).reject, 400u);
}

TEST(FramingRequest, ContentLengthIsNormalisedOrRefused) {
  for (auto fields : std::vector<std::vector<std::string>>{{"5, 5"}, {"5", "5"}, {"5,5", " 5"}}) {
    Head h;
    h.method = "PUT";
    for (auto& v : fields) h.fields.push_back({"Content-Length", v});
    auto p = plan(h);
    ASSERT_EQ(p.reject, 0u) << p.reason;
    EXPECT_EQ(p.body, Framing::length);
    EXPECT_EQ(p.length, 5u);
    auto out = forwarded(h);
    EXPECT_EQ(count(out, "Content-Length"), 1u) << out;
    EXPECT_NE(out.find("Content-Length: 5\r\n"), std::string::npos) << out;
  }
  for (auto fields : std::vector<std::vector<std::string>>{{"5, 6"},
                                                           {"5", "6"},
                                                           {"+5"},
                                                           {"5a"},
                                                           {"-1"},
                                                           {"0x5"},
                                                           {""},
                                                           {"5 5"},
                                                           {"99999999999999999999"}}) {
    Head h;
    h.method = "PUT";
    for (auto& v : fields) h.fields.push_back({"Content-Length", v});
    EXPECT_EQ(plan(h).reject, 400u) << fields.front();
  }
}

TEST(FramingRequest, HostRules) {
  Head none;
  none.fields.clear();
  EXPECT_EQ(plan(none).reject, 400u);
  Head two;
  two.fields.push_back({"host", "other"});
  EXPECT_EQ(plan(two).reject, 400u);
  for (std::string bad : {"a b", "a/b", "user@host", "a\\b", "h?x", "h#x"}) {
    Head h;
    h.fields = {{"Host", bad}};
    EXPECT_EQ(plan(h).reject, 400u) << bad;
  }
  Head http10;
  http10.version = 10;
  http10.fields = {{"X-Forwarded-Host", "evil"}};
  auto out = forwarded(http10);
  EXPECT_NE(out.find("Host: 127.0.0.1:32400\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("X-Forwarded-Host"), std::string::npos) << out;
  EXPECT_FALSE(plan(http10).keep_alive);
}

TEST(FramingRequest, AbsoluteFormBecomesOriginForm) {
  Head h;
  h.target = "http://example.com:8080/path?q=1";
  h.fields = {{"Host", "ignored"}};
  auto out = forwarded(h);
  EXPECT_TRUE(out.starts_with("GET /path?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n")) << out;
  EXPECT_NE(out.find("X-Forwarded-Host: example.com:8080\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("ignored"), std::string::npos) << out;

  Head bare;
  bare.target = "HTTPS://example.com?x";
  EXPECT_TRUE(forwarded(bare).starts_with("GET /?x HTTP/1.1\r\nHost: example.com\r\n"));

  for (std::string bad :
       {"ftp://x/", "http:///path", "http://a@b/", "example.com:443", "path", "http://h#frag"}) {
    Head b;
    b.target = bad;
    EXPECT_EQ(plan(b).reject, 400u) << bad;
  }
}

TEST(FramingRequest, ConnectAndAsterisk) {
  Head connect;
  connect.method = "CONNECT";
  connect.target = "example.com:443";
  EXPECT_EQ(plan(connect).reject, 405u);
  Head options;
  options.method = "OPTIONS";
  options.target = "*";
  EXPECT_TRUE(forwarded(options).starts_with("OPTIONS * HTTP/1.1\r\n"));
  Head star;
  star.target = "*";
  EXPECT_EQ(plan(star).reject, 400u);
}

TEST(FramingRequest, ForwardingFieldsAreTheProxysOwn) {
  Head h;
  h.fields.push_back({"X-Forwarded-For", "1.1.1.1"});
  h.fields.push_back({"X-Forwarded-For", "2.2.2.2, 3.3.3.3"});
  h.fields.push_back({"X-Forwarded-Host", "evil.example"});
  h.fields.push_back({"X-Forwarded-Proto", "https"});
  h.fields.push_back({"Forwarded", "for=6.6.6.6"});
  h.fields.push_back({"X-Real-IP", "6.6.6.6"});
  auto out = forwarded(h, "127.0.0.1", false);
  EXPECT_NE(out.find("X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1\r\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(count(out, "X-Forwarded-For"), 1u);
  EXPECT_EQ(out.find("evil"), std::string::npos) << out;
  EXPECT_EQ(out.find("6.6.6.6"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Forwarded-Proto: http\r\n"), std::string::npos) << out;
  EXPECT_EQ(count(out, "X-Forwarded-Proto"), 1u);
  EXPECT_NE(out.find("X-Real-IP: 127.0.0.1\r\n"), std::string::npos) << out;
}

TEST(FramingRequest, WebSocketUpgradeKeepsUpgradeFields) {
  Head h;
  h.fields.push_back({"Connection", "Upgrade"});
  h.fields.push_back({"Upgrade", "websocket"});
  h.fields.push_back({"Sec-WebSocket-Key", "k"});
  auto p = plan(h);
  EXPECT_TRUE(p.upgrade);
  auto out = forwarded(h);
  EXPECT_NE(out.find("Upgrade: websocket\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: Upgrade\r\n"), std::string::npos) << out;

  Head h2c;
  h2c.fields.push_back({"Connection", "Upgrade, HTTP2-Settings"});
  h2c.fields.push_back({"Upgrade", "h2c"});
  h2c.fields.push_back({"HTTP2-Settings", "x"});
  EXPECT_FALSE(plan(h2c).upgrade);
  auto plain = forwarded(h2c);
  EXPECT_EQ(plain.find("Upgrade"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("HTTP2-Settings"), std::string::npos) << plain;
}

TEST(FramingRequest, MethodsThatMaySafelyBeSentAgain) {
  for (std::string m : {"GET", "HEAD", "OPTIONS"}) {
    Head h;
    h.method = m;
    EXPECT_TRUE(plan(h).idempotent) << m;
  }
  for (std::string m : {"PUT", "POST", "DELETE", "PATCH"}) {
    Head h;
    h.method = m;
    EXPECT_FALSE(plan(h).idempotent) << m;
  }
}

TEST(FramingRequest, UnsupportedVersions) {
  Head h;
  h.version = 20;
  EXPECT_EQ(plan(h).reject, 505u);
  h.version = 9;
  EXPECT_EQ(plan(h).reject, 505u);
}

struct Resp {
  Resp(unsigned s, unsigned v, std::vector<std::pair<std::string, std::string>> f)
      : status(s), version(v), fields(std::move(f)) {}
  unsigned status;
  unsigned version;
  std::vector<std::pair<std::string, std::string>> fields;
  ResponseHeadIn view() {
    views.clear();
    for (auto& [n, v] : fields) views.push_back({n, v});
    return {status, "OK", version, views};
  }
  std::vector<Field> views;
};

ResponsePlan rplan(Resp& r, ResponseContext c = {}) {
  return plan_response(r.view(), c);
}

TEST(FramingResponse, LengthChunkedAndCloseDelimited) {
  Resp length{200, 11, {{"Content-Length", "12"}}};
  auto p = rplan(length);
  EXPECT_EQ(p.from_server, Framing::length);
  EXPECT_EQ(p.to_client, Framing::length);
  EXPECT_TRUE(p.server_keep_alive);
  EXPECT_TRUE(p.keep_alive);

  Resp chunked{200, 11, {{"Transfer-Encoding", "chunked"}}};
  EXPECT_EQ(rplan(chunked).to_client, Framing::chunked);
  // HTTP/1.0 clients never get chunked: the close ends the body.
  auto old = rplan(chunked, {false, false, 10, true});
  EXPECT_EQ(old.to_client, Framing::close);
  EXPECT_FALSE(old.keep_alive);
  EXPECT_TRUE(old.server_keep_alive);

  Resp eof{200, 11, {}};
  auto e = rplan(eof);
  EXPECT_EQ(e.from_server, Framing::close);
  EXPECT_EQ(e.to_client, Framing::chunked);
  EXPECT_FALSE(e.server_keep_alive);
}

TEST(FramingResponse, AmbiguousFramingIsBad) {
  Resp both{200, 11, {{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}};
  EXPECT_TRUE(rplan(both).bad);
  Resp differ{200, 11, {{"Content-Length", "5"}, {"Content-Length", "6"}}};
  EXPECT_TRUE(rplan(differ).bad);
  Resp coding{200, 11, {{"Transfer-Encoding", "gzip"}}};
  EXPECT_TRUE(rplan(coding).bad);
  Resp same{200, 11, {{"Content-Length", "5"}, {"Content-Length", "5"}}};
  auto p = rplan(same);
  EXPECT_FALSE(p.bad);
  std::string out;
  write_response_head(out, same.view(), p, 11);
  EXPECT_EQ(count(out, "Content-Length"), 1u) << out;
}

TEST(FramingResponse, UnaskedSwitchingProtocolsIsBad) {
  Resp r{101, 11, {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}}};
  EXPECT_TRUE(rplan(r).bad);
  auto asked = rplan(r, {false, true, 11, true});
  EXPECT_FALSE(asked.bad);
  EXPECT_TRUE(asked.tunnel);
  std::string out;
  write_response_head(out, r.view(), asked, 11);
  EXPECT_NE(out.find("Upgrade: websocket\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: Upgrade\r\n"), std::string::npos) << out;
}

TEST(FramingResponse, HeadAnd304KeepTheirLengthWithoutABody) {
  Resp r{200, 11, {{"Content-Length", "1000"}}};
  auto p = rplan(r, {true, false, 11, true});
  EXPECT_EQ(p.from_server, Framing::none);
  std::string out;
  write_response_head(out, r.view(), p, 11);
  EXPECT_NE(out.find("Content-Length: 1000\r\n"), std::string::npos) << out;
  Resp no_content{204, 11, {{"Content-Length", "0"}}};
  auto n = rplan(no_content);
  out.clear();
  write_response_head(out, no_content.view(), n, 11);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << out;
}

TEST(FramingResponse, ConnectionAndServerKeepAlive) {
  Resp close{200, 11, {{"Content-Length", "1"}, {"Connection", "close"}}};
  EXPECT_FALSE(rplan(close).server_keep_alive);
  Resp old{200, 10, {{"Content-Length", "1"}}};
  EXPECT_FALSE(rplan(old).server_keep_alive);
  Resp old_ka{200, 10, {{"Content-Length", "1"}, {"Connection", "keep-alive"}}};
  EXPECT_TRUE(rplan(old_ka).server_keep_alive);
  Resp named{200, 11, {{"Content-Length", "1"}, {"Connection", "Content-Length"}}};
  auto p = rplan(named);
  EXPECT_FALSE(p.server_keep_alive);
  std::string out;
  write_response_head(out, named.view(), p, 10);
  EXPECT_NE(out.find("Content-Length: 1\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: keep-alive\r\n"), std::string::npos) << out;
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\n")) << out;
}

TEST(FramingBody, PiecesAreChunkedInPlace) {
  char buf[kChunkPrefix + 64 + kChunkSuffix];
  char* piece = buf + kChunkPrefix;
  std::memcpy(piece, "hello world", 11);
  EXPECT_EQ(frame_piece(piece, 11, Framing::chunked, false), "b\r\nhello world\r\n");
  std::memcpy(piece, "hi", 2);
  EXPECT_EQ(frame_piece(piece, 2, Framing::chunked, true), "2\r\nhi\r\n0\r\n\r\n");
  EXPECT_EQ(frame_piece(piece, 0, Framing::chunked, true), "0\r\n\r\n");
  EXPECT_EQ(frame_piece(piece, 0, Framing::chunked, false), "");
  std::memcpy(piece, "raw", 3);
  EXPECT_EQ(frame_piece(piece, 3, Framing::length, true), "raw");
}

}  // namespace
}  // namespace plextap::proxy
