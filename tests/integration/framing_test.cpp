// The framing rule (DESIGN.md section 9), tested as an attacker would: hostile requests
// and hostile answers against plextap on one I/O thread, in front of a server that
// parses leniently, so that anything smuggled past the proxy is parsed and answered. After
// each attack an ordinary client B must still get its own answer, never one meant for
// someone else. Where the design is silent, the expectations follow nginx and HAProxy.
// Long on purpose: one test per attack, each readable on its own next to its neighbours.
#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <cctype>
#include <cstdio>
#include <ostream>
#include <thread>

#include "tests/integration/client.hpp"
#include "tests/integration/common.hpp"
#include "tests/integration/framing_support.hpp"

namespace plextap::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Action = RawUpstream::Action;
using Then = RawUpstream::Action::Then;

using boost::beast::iequals;

std::string join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "[" : ", [") + v + "]";
  return out.empty() ? "none" : out;
}

// `POST /a` with `fields` (each ending in CRLF), then `body` right after the head.
std::string post_a(std::string_view fields, std::string_view body,
                   std::string_view version = "1.1") {
  return "POST /a HTTP/" + std::string(version) + "\r\nHost: a.example\r\n" + std::string(fields) +
         "\r\n" + std::string(body);
}

std::string length_field(std::size_t n) {
  return "Content-Length: " + std::to_string(n) + "\r\n";
}

// A response head with Content-Length and `body`.
std::string answer(std::string_view body, std::string_view extra_fields = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + std::string(extra_fields) +
         length_field(body.size()) + "\r\n" + std::string(body);
}

// A's request reached the upstream once, with exactly one framing field (the proxy's
// own) and exactly `body`.
void expect_framed_once(const std::vector<ParsedRequest>& seen, std::string_view body) {
  ASSERT_EQ(seen.size(), 1u) << "the upstream should parse A's request exactly once";
  const auto& r = seen.front();
  auto te = r.values("Transfer-Encoding");
  auto cl = r.values("Content-Length");
  EXPECT_EQ(te.size() + cl.size(), 1u) << "framing fields forwarded: Transfer-Encoding " << join(te)
                                       << ", Content-Length " << join(cl);
  if (te.size() == 1) {
    EXPECT_TRUE(iequals(te[0], "chunked")) << te[0];
  }
  if (cl.size() == 1) {
    EXPECT_EQ(cl[0], std::to_string(body.size()));
  }
  EXPECT_TRUE(r.complete) << "the body never ended";
  EXPECT_EQ(r.body, body);
}

// ==== Requests: a refused request reaches nobody ====

struct Case {
  const char* name;
  std::string bytes;
  std::vector<int> statuses{400};
  bool closes = true;  // the proxy closes A's connection after its answer
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return info.param.name;
}
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

// A sends `bytes` and must get one of `statuses` (then the close); nothing of A reaches
// the upstream; B gets its own answer.
class Refused : public FramingTest, public ::testing::WithParamInterface<Case> {
 protected:
  void run_case() {
    start();
    Wire a(http_port());
    ASSERT_TRUE(a.send(GetParam().bytes));
    expect_refused(a, GetParam().statuses, GetParam().closes);
    expect_b_gets_its_own_answer();
    expect_upstream_saw_only({"/b-marker"});
  }
};

// ---- 1. Connection naming a framing field ----
// Honouring such a Connection would drop the framing from the forwarded head and send
// the body as requests of its own.

std::string connection_over_length(std::string_view connection) {
  return post_a("Connection: " + std::string(connection) + "\r\n" + length_field(kSmuggled.size()),
                kSmuggled);
}

std::string connection_over_chunked(std::string_view connection) {
  return post_a("Connection: " + std::string(connection) + "\r\nTransfer-Encoding: chunked\r\n",
                chunk(kSmuggled) + "0\r\n\r\n");
}

class FramingConnectionField : public Refused {};
TEST_P(FramingConnectionField, RefusedAndNothingForwarded) {
  run_case();
}
INSTANTIATE_TEST_SUITE_P(
    Framing, FramingConnectionField,
    ::testing::Values(
        Case{"ContentLength", connection_over_length("Content-Length")},
        Case{"ContentLengthUpperCase", connection_over_length("CONTENT-LENGTH")},
        Case{"ContentLengthInList", connection_over_length("keep-alive, Content-Length")},
        Case{"TransferEncoding", connection_over_chunked("Transfer-Encoding")},
        Case{"TransferEncodingInList", connection_over_chunked("Keep-Alive,transfer-encoding")},
        Case{"Host", connection_over_length("Host")},
        Case{"HostInList", connection_over_length("keep-alive, HOST")}),
    case_name);

using FramingRequest = FramingTest;

TEST_F(FramingRequest, ConnectionNamingContentLengthRefusedOverHttps) {
  start();
  auto a = HttpClient::tls(proxy->https_port(), proxy->ca_file(), 10s);
  a->write_raw(connection_over_length("keep-alive, Content-Length"));
  unsigned status = 0;
  try {
    status = a->read().result_int();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "A got no answer: " << e.what();
  }
  EXPECT_EQ(status, 400u);
  EXPECT_TRUE(a->closed_by_peer_within(2s)) << "A's connection left open";
  expect_b_gets_its_own_answer();
  expect_upstream_saw_only({"/b-marker"});
}

// ---- 2. Transfer-Encoding ----
// Each body would end after `0\r\n\r\n` for a server that reads it as chunked, leaving a
// request of its own behind.

std::string chunked_smuggle(std::string_view fields, std::string_view version = "1.1") {
  return post_a(fields, "0\r\n\r\n" + std::string(kSmuggled), version);
}

class FramingTransferEncoding : public Refused {};
TEST_P(FramingTransferEncoding, RefusedAndNothingForwarded) {
  run_case();
}
// A final coding other than chunked leaves the length unknown: 400 (RFC 9112 6.3). An
// unknown coding before chunked could be passed on, but the proxy would then vouch for a
// coding it does not know: refused, 400 or 501 (nginx answers 501). `chunked;q=1`: the
// chunked coding has no parameters and the RFC says to treat them as an error; nginx
// compares the whole value, so either status.
INSTANTIATE_TEST_SUITE_P(
    Framing, FramingTransferEncoding,
    ::testing::Values(
        Case{"ChunkedThenIdentity", chunked_smuggle("Transfer-Encoding: chunked, identity\r\n")},
        Case{"ChunkedFieldThenGzipField",
             chunked_smuggle("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n")},
        Case{"XChunked", chunked_smuggle("Transfer-Encoding: xchunked\r\n")},
        Case{"ChunkedWithParameter",
             chunked_smuggle("Transfer-Encoding: chunked;q=1\r\n"),
             {400, 501}},
        Case{
            "GzipThenChunked", chunked_smuggle("Transfer-Encoding: gzip, chunked\r\n"), {400, 501}},
        Case{"GzipFieldThenChunkedField",
             chunked_smuggle("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
             {400, 501}},
        Case{"WithContentLength",
             chunked_smuggle("Transfer-Encoding: chunked\r\n" + length_field(5))},
        Case{"AfterContentLength",
             chunked_smuggle(length_field(5) + "Transfer-Encoding: chunked\r\n")},
        Case{"SpaceBeforeColon", chunked_smuggle("Transfer-Encoding : chunked\r\n")},
        Case{"InHttp10", chunked_smuggle("Transfer-Encoding: chunked\r\n", "1.0")}),
    case_name);

// Exactly `chunked`, in any letter case: forwarded with one framing field of the proxy's
// and the decoded body (chunk extensions are the proxy's to drop).
class FramingChunkedRequest : public FramingTest, public ::testing::WithParamInterface<Case> {};
TEST_P(FramingChunkedRequest, ForwardedWithOneFramingAndTheDecodedBody) {
  start();
  Wire a(http_port());
  ASSERT_TRUE(
      a.send(post_a(GetParam().bytes, "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")));
  auto res = a.read_response(3s);
  EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
  EXPECT_NE(res.body.find("POST /a on connection"), std::string::npos) << escape_bytes(res.raw);
  expect_framed_once(upstream.requests_to("/a"), "hello world");
  expect_b_gets_its_own_answer();
  expect_upstream_saw_only({"/a", "/b-marker"});
}
INSTANTIATE_TEST_SUITE_P(Framing, FramingChunkedRequest,
                         ::testing::Values(Case{"LowerCase", "Transfer-Encoding: chunked\r\n"},
                                           Case{"UpperCase", "Transfer-Encoding: CHUNKED\r\n"},
                                           Case{"MixedCase", "transfer-encoding: Chunked\r\n"}),
                         case_name);

// chunked twice is forbidden to senders (RFC 9112 7); a proxy may refuse it (HAProxy) or
// read it once; what it must not do is pass both fields, or two framings, on.
TEST_F(FramingRequest, ChunkedTwiceIsRefusedOrForwardedWithOneFraming) {
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send(post_a("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                            "5\r\nhello\r\n0\r\n\r\n")));
  auto res = a.read_response(3s);
  ASSERT_TRUE(res.complete) << escape_bytes(res.raw);
  if (res.status == 400) {
    EXPECT_TRUE(a.closed_within(2s)) << "A's connection left open after its 400";
    expect_b_gets_its_own_answer();
    expect_upstream_saw_only({"/b-marker"});
  } else {
    EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
    expect_framed_once(upstream.requests_to("/a"), "hello");
    expect_b_gets_its_own_answer();
    expect_upstream_saw_only({"/a", "/b-marker"});
  }
}

// ---- 3. Content-Length ----

class FramingContentLengthAccepted : public FramingTest,
                                     public ::testing::WithParamInterface<Case> {};
TEST_P(FramingContentLengthAccepted, ForwardedWithOneContentLength) {
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send(post_a(GetParam().bytes, "hello")));
  auto res = a.read_response(3s);
  EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
  EXPECT_NE(res.body.find("POST /a on connection"), std::string::npos) << escape_bytes(res.raw);
  auto seen = upstream.requests_to("/a");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen.front().values("Content-Length"), std::vector<std::string>{"5"})
      << "forwarded: " << join(seen.front().values("Content-Length"));
  EXPECT_EQ(seen.front().count("Transfer-Encoding"), 0u);
  EXPECT_EQ(seen.front().body, "hello");
  expect_b_gets_its_own_answer();
  expect_upstream_saw_only({"/a", "/b-marker"});
}
INSTANTIATE_TEST_SUITE_P(Framing, FramingContentLengthAccepted,
                         ::testing::Values(Case{"ListOfTwoEqual", "Content-Length: 5, 5\r\n"},
                                           Case{"TwoEqualFields",
                                                "Content-Length: 5\r\nContent-Length: 5\r\n"}),
                         case_name);

std::string length_smuggle(std::string_view fields) {
  return post_a(fields, "hello" + std::string(kSmuggled));
}

class FramingContentLengthRefused : public Refused {};
TEST_P(FramingContentLengthRefused, RefusedAndNothingForwarded) {
  run_case();
}
INSTANTIATE_TEST_SUITE_P(
    Framing, FramingContentLengthRefused,
    ::testing::Values(Case{"ListOfTwoDifferent", length_smuggle("Content-Length: 5, 6\r\n")},
                      Case{"TwoDifferentFields",
                           length_smuggle("Content-Length: 5\r\nContent-Length: 6\r\n")},
                      Case{"Plus", length_smuggle("Content-Length: +5\r\n")},
                      Case{"TrailingLetter", length_smuggle("Content-Length: 5a\r\n")},
                      Case{"Negative", length_smuggle("Content-Length: -1\r\n")},
                      Case{"Hex", length_smuggle("Content-Length: 0x5\r\n")},
                      Case{"Empty", length_smuggle("Content-Length: \r\n")}),
    case_name);

// ---- 4. Host ----

class FramingHost : public Refused {};
TEST_P(FramingHost, RefusedAndNothingForwarded) {
  run_case();
}
INSTANTIATE_TEST_SUITE_P(
    Framing, FramingHost,
    ::testing::Values(Case{"MissingInHttp11", "GET /a HTTP/1.1\r\nUser-Agent: t\r\n\r\n"},
                      Case{"TwoFields",
                           "GET /a HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"},
                      Case{"WithSpace", "GET /a HTTP/1.1\r\nHost: a example\r\n\r\n"},
                      Case{"WithSlash", "GET /a HTTP/1.1\r\nHost: a.example/x\r\n\r\n"},
                      Case{"WithAt", "GET /a HTTP/1.1\r\nHost: user@a.example\r\n\r\n"}),
    case_name);

TEST_F(FramingRequest, Http10WithoutHostGetsTheUpstreamsHostAndNoForwardedHost) {
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.0\r\nUser-Agent: t\r\n\r\n"));
  auto res = a.read_response(3s);
  EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
  auto seen = upstream.requests_to("/a");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen.front().values("Host"),
            std::vector<std::string>{"127.0.0.1:" + std::to_string(upstream.port())});
  EXPECT_EQ(seen.front().count("X-Forwarded-Host"), 0u)
      << "the client named no host: " << join(seen.front().values("X-Forwarded-Host"));
}

// ---- 5. Request targets ----

TEST_F(FramingRequest, AbsoluteFormBecomesOriginFormWithItsAuthorityAsHost) {
  start();
  Wire a(http_port());
  ASSERT_TRUE(
      a.send("GET http://example.com:8080/path?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n"));
  auto res = a.read_response(3s);
  EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
  auto seen = upstream.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen.front().method, "GET");
  EXPECT_EQ(seen.front().target, "/path?q=1");
  EXPECT_EQ(seen.front().version, "HTTP/1.1");
  // RFC 9112 3.2.2: the authority of an absolute-form target replaces Host.
  EXPECT_EQ(seen.front().values("Host"), std::vector<std::string>{"example.com:8080"})
      << join(seen.front().values("Host"));
}

TEST_F(FramingRequest, AbsoluteFormHttpsBecomesOriginForm) {
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send("GET https://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n"));
  auto res = a.read_response(3s);
  EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
  auto seen = upstream.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen.front().target, "/x");
  EXPECT_EQ(seen.front().values("Host"), std::vector<std::string>{"example.com"});
}

class FramingTarget : public Refused {};
TEST_P(FramingTarget, RefusedAndNothingForwarded) {
  run_case();
}
INSTANTIATE_TEST_SUITE_P(
    Framing, FramingTarget,
    ::testing::Values(
        Case{"NonHttpScheme", "GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n", {400}, false},
        Case{"Connect",
             "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
             {405},
             false}),
    case_name);

TEST_F(FramingRequest, OptionsAsteriskIsForwardedAsIs) {
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send("OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  auto res = a.read_response(3s);
  EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
  auto seen = upstream.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen.front().method, "OPTIONS");
  EXPECT_EQ(seen.front().target, "*");
}

// ---- 6. Forwarding headers: the proxy's own, never the client's ----

class FramingForwarding : public FramingTest {
 protected:
  // `req` (to /a) through the http or https listener; what the upstream got.
  ParsedRequest through(bool tls, Request req) {
    auto c = tls ? HttpClient::tls(proxy->https_port(), proxy->ca_file(), 10s)
                 : HttpClient::plain(http_port(), 10s);
    auto res = c->send(std::move(req));
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    auto seen = upstream.requests_to("/a");
    if (seen.size() != 1) {
      ADD_FAILURE() << "the upstream saw " << seen.size() << " requests to /a";
      return {};
    }
    return seen.front();
  }

  static Request get_a(std::string host = "a.example") {
    Request req{http::verb::get, "/a", 11};
    req.set(http::field::host, host);
    return req;
  }
};

TEST_F(FramingForwarding, XForwardedHostIsTheClientsHost) {
  start();
  auto req = get_a("media.example:32443");
  req.insert("X-Forwarded-Host", "evil.example");
  auto got = through(false, std::move(req));
  EXPECT_EQ(got.values("X-Forwarded-Host"), std::vector<std::string>{"media.example:32443"})
      << join(got.values("X-Forwarded-Host"));
}

TEST_F(FramingForwarding, XForwardedForFieldsArriveAsOneList) {
  start();
  auto req = get_a();
  req.insert("X-Forwarded-For", "1.1.1.1");
  req.insert("X-Forwarded-For", "2.2.2.2, 3.3.3.3");
  auto got = through(false, std::move(req));
  EXPECT_EQ(got.values("X-Forwarded-For"),
            std::vector<std::string>{"1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1"})
      << join(got.values("X-Forwarded-For"));
}

TEST_F(FramingForwarding, ClientsForwardedNeverArrives) {
  start();
  auto req = get_a();
  req.insert("Forwarded", "for=9.9.9.9;host=evil.example;proto=https");
  auto got = through(false, std::move(req));
  for (const auto& v : got.values("Forwarded")) {
    EXPECT_EQ(v.find("9.9.9.9"), std::string::npos) << "the client's Forwarded arrived: " << v;
    EXPECT_EQ(v.find("evil.example"), std::string::npos) << "the client's Forwarded arrived: " << v;
  }
}

// The proxy may add X-Real-IP or not (nginx adds it only when told to); if it arrives, it
// is the proxy's view of the client.
TEST_F(FramingForwarding, XRealIpIsNeverTheClients) {
  start();
  auto req = get_a();
  req.insert("X-Real-IP", "9.9.9.9");
  auto got = through(false, std::move(req));
  auto values = got.values("X-Real-IP");
  EXPECT_LE(values.size(), 1u) << join(values);
  for (const auto& v : values) EXPECT_EQ(v, "127.0.0.1") << join(values);
}

class FramingForwardedProto : public FramingForwarding,
                              public ::testing::WithParamInterface<bool> {};
TEST_P(FramingForwardedProto, IsTheListenersWhateverTheClientSays) {
  start();
  const bool tls = GetParam();
  auto req = get_a();
  req.insert("X-Forwarded-Proto", tls ? "http" : "https");
  auto got = through(tls, std::move(req));
  EXPECT_EQ(got.values("X-Forwarded-Proto"), std::vector<std::string>{tls ? "https" : "http"})
      << join(got.values("X-Forwarded-Proto"));
}
INSTANTIATE_TEST_SUITE_P(Framing, FramingForwardedProto, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Https" : "Http"; });

// ---- 7. A body that stops ----

TEST_F(FramingRequest, BodyWithoutProgressGets408AndBothSidesClose) {
  start({"--body-timeout", "1s"});
  Wire a(http_port());
  ASSERT_TRUE(
      a.send("POST /upload HTTP/1.1\r\nHost: a.example\r\nContent-Length: 100\r\n\r\n"
             "0123456789"));
  const auto stalled = Clock::now();
  auto res = a.read_response(5s);
  const auto took = ms_between(stalled, Clock::now());
  EXPECT_EQ(res.status, 408) << "after " << took << " ms: " << escape_bytes(res.raw);
  EXPECT_GE(took, 800);
  EXPECT_LE(took, 3000);
  EXPECT_TRUE(a.closed_within(2s)) << "A's connection left open after its 408";

  // The upstream connection holding the unfinished request cannot be used again: the
  // server would read the next request as the rest of this body.
  for (const auto& c : upstream.connections()) {
    if (c.received.find("POST /upload") == std::string::npos) continue;
    auto closed = upstream.wait_peer_closed(c.id, 3s);
    ASSERT_TRUE(closed) << "the upstream connection with the partial body stayed open";
    auto after = ms_between(stalled, *closed);
    std::printf("upstream connection closed %lld ms after the body stalled\n", after);
    EXPECT_LE(after, 2500) << "1 s body timeout, then about 1 s at most";
  }
  for (const auto& r : upstream.requests_to("/upload"))
    EXPECT_FALSE(r.complete) << "the partial body was completed by someone else's bytes";
  expect_b_gets_its_own_answer();
}

// ==== Responses: an answer never outlives its framing ====

using FramingResponse = FramingTest;

// The server sends more than its Content-Length: a whole fake answer behind the real one,
// at once or a moment later (after the proxy may have pooled the connection).
struct Overrun {
  const char* name;
  std::chrono::milliseconds delay;
  bool tls;
};

void PrintTo(const Overrun& c, std::ostream* os) {
  *os << c.name;
}

class FramingOverrun : public FramingTest, public ::testing::WithParamInterface<Overrun> {};
TEST_P(FramingOverrun, ExtraBytesReachNobodyAndTheConnectionIsDropped) {
  const auto delay = GetParam().delay;
  upstream.script([delay](const ParsedRequest& req, std::uint64_t, std::size_t) {
    if (req.path() != "/a") return RawUpstream::echo(req);
    if (delay.count() == 0)
      return Action::send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" +
                          std::string(kStolen));
    return Action::send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        .then_send(delay, std::string(kStolen));
  });
  start();
  if (GetParam().tls) {
    auto a = HttpClient::tls(proxy->https_port(), proxy->ca_file(), 10s);
    Request req{http::verb::get, "/a", 11};
    req.set(http::field::host, "a.example");
    auto res = a->send(std::move(req));
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "hello");
    std::this_thread::sleep_for(300ms);
  } else {
    Wire a(http_port());
    ASSERT_TRUE(a.send("GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"));
    auto res = a.read_response(3s);
    EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
    EXPECT_EQ(res.body, "hello");
    a.closed_within(300ms);  // whatever else comes to A in that time
    EXPECT_EQ(a.unread().find("STOLEN"), std::string::npos)
        << "A got the extra bytes: " << escape_bytes(a.unread());
  }
  const auto a_conn = connection_of("/a");
  const auto b_conn = expect_b_gets_its_own_answer();
  EXPECT_NE(b_conn, a_conn) << "the overrun connection was reused";
  EXPECT_TRUE(upstream.wait_peer_closed(a_conn, 2s)) << "the overrun connection was kept";
  expect_upstream_saw_only({"/a", "/b-marker"});
}
INSTANTIATE_TEST_SUITE_P(Framing, FramingOverrun,
                         ::testing::Values(Overrun{"Immediate", 0ms, false},
                                           Overrun{"Delayed", 50ms, false},
                                           Overrun{"ImmediateOverHttps", 0ms, true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(FramingResponse, BodyToHeadReachesNobodyAndTheConnectionIsDropped) {
  upstream.script([](const ParsedRequest& req, std::uint64_t, std::size_t) {
    if (req.path() != "/a") return RawUpstream::echo(req);
    return Action::send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" +
                        length_field(kStolen.size()) + "\r\n" + std::string(kStolen));
  });
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send("HEAD /a HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  auto res = a.read_response(3s, true);
  EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
  a.closed_within(300ms);
  EXPECT_EQ(a.unread(), "") << "A got bytes after the head: " << escape_bytes(a.unread());
  const auto a_conn = connection_of("/a");
  const auto b_conn = expect_b_gets_its_own_answer();
  EXPECT_NE(b_conn, a_conn) << "the connection that sent a body to HEAD was reused";
  EXPECT_TRUE(upstream.wait_peer_closed(a_conn, 2s)) << "that connection was kept";
  expect_upstream_saw_only({"/a", "/b-marker"});
}

TEST_F(FramingResponse, UnrequestedSwitchingProtocolsGives502) {
  upstream.script([](const ParsedRequest& req, std::uint64_t, std::size_t) {
    if (req.path() != "/a") return RawUpstream::echo(req);
    return Action::send(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" +
        std::string(kStolen));
  });
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  auto res = a.read_response(3s);
  EXPECT_EQ(res.status, 502) << escape_bytes(res.raw);
  EXPECT_EQ(a.unread().find("STOLEN"), std::string::npos) << escape_bytes(a.unread());
  const auto a_conn = connection_of("/a");
  const auto b_conn = expect_b_gets_its_own_answer();
  EXPECT_NE(b_conn, a_conn);
  EXPECT_TRUE(upstream.wait_peer_closed(a_conn, 2s)) << "the connection that sent 101 was kept";
  expect_upstream_saw_only({"/a", "/b-marker"});
}

// Framing the proxy cannot be sure of: 502 (nginx: "upstream sent ... at the same time"),
// or the connection closed with nothing said; never a guess passed on.
class FramingAmbiguousResponse : public FramingTest, public ::testing::WithParamInterface<Case> {};
TEST_P(FramingAmbiguousResponse, Gives502AndTheConnectionIsDropped) {
  const std::string response = GetParam().bytes;
  upstream.script([response](const ParsedRequest& req, std::uint64_t, std::size_t) {
    if (req.path() != "/a") return RawUpstream::echo(req);
    return Action::send(response);
  });
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  auto res = a.read_response(3s);
  const bool said_502 = res.complete && res.status == 502;
  const bool closed_silently = !res.complete && res.raw.empty() && a.closed_within(0ms);
  EXPECT_TRUE(said_502 || closed_silently) << "A got: " << escape_bytes(res.raw);
  const auto a_conn = connection_of("/a");
  const auto b_conn = expect_b_gets_its_own_answer();
  EXPECT_NE(b_conn, a_conn);
  EXPECT_TRUE(upstream.wait_peer_closed(a_conn, 2s)) << "the ambiguous connection was kept";
  expect_upstream_saw_only({"/a", "/b-marker"});
}
INSTANTIATE_TEST_SUITE_P(
    Framing, FramingAmbiguousResponse,
    ::testing::Values(
        Case{"ContentLengthAndChunked",
             "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n0\r\n\r\n"},
        Case{"TwoDifferentLengths",
             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
        Case{"ListOfDifferentLengths", "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!"},
        Case{"FinalCodingNotChunked",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n" +
                 std::string(kStolen)}),
    case_name);

TEST_F(FramingResponse, TwoEqualLengthsPassAsOne) {
  upstream.script([](const ParsedRequest& req, std::uint64_t, std::size_t) {
    if (req.path() != "/a") return RawUpstream::echo(req);
    return Action::send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
  });
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  auto res = a.read_response(3s);
  EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
  EXPECT_EQ(res.count("Content-Length"), 1u) << escape_bytes(res.raw);
  EXPECT_EQ(res.header("Content-Length"), "5");
  EXPECT_EQ(res.body, "hello");
  expect_b_gets_its_own_answer();
  expect_upstream_saw_only({"/a", "/b-marker"});
}

// ---- 12. Retries ----

class FramingRetry : public FramingTest {
 protected:
  // One answered GET: the upstream connection it used is pooled now. Returns its id.
  std::uint64_t warm_pool() {
    Wire w(http_port());
    EXPECT_TRUE(w.send("GET /warm HTTP/1.1\r\nHost: a.example\r\n\r\n"));
    auto res = w.read_response(3s);
    EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
    std::this_thread::sleep_for(100ms);  // the connection goes back once the answer is out
    return connection_of("/warm");
  }
};

struct Unsafe {
  const char* name;
  std::string request;
  std::string path;
};

void PrintTo(const Unsafe& c, std::ostream* os) {
  *os << c.name;
}

// The server read it and may have acted on it: sending it again could scrobble twice.
class FramingUnsafeRetry : public FramingRetry, public ::testing::WithParamInterface<Unsafe> {};
TEST_P(FramingUnsafeRetry, NeverSentTwice) {
  const std::string path = GetParam().path;
  upstream.script([path](const ParsedRequest& req, std::uint64_t, std::size_t nth) {
    if (req.path() == path && nth >= 2) return Action::close_silently();  // on the pooled one
    return RawUpstream::echo(req);
  });
  start();
  const auto pooled = warm_pool();
  Wire a(http_port());
  ASSERT_TRUE(a.send(GetParam().request));
  auto res = a.read_response(5s);
  EXPECT_EQ(res.status, 502) << escape_bytes(res.raw);
  auto seen = upstream.requests_to(path);
  EXPECT_EQ(seen.size(), 1u) << "sent " << seen.size() << " times";
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().connection, pooled)
      << "the request did not go out on the pooled connection";
}
INSTANTIATE_TEST_SUITE_P(
    Framing, FramingUnsafeRetry,
    ::testing::Values(Unsafe{"PutWithoutBody",
                             "PUT /:/scrobble?key=1 HTTP/1.1\r\nHost: a.example\r\n\r\n",
                             "/:/scrobble"},
                      Unsafe{"PostWithoutBody",
                             "POST /:/timeline?state=stopped HTTP/1.1\r\nHost: a.example\r\n" +
                                 length_field(0) + "\r\n",
                             "/:/timeline"},
                      Unsafe{"PostWithBody",
                             "POST /playQueues HTTP/1.1\r\nHost: a.example\r\nContent-Type: "
                             "application/x-www-form-urlencoded\r\n" +
                                 length_field(7) + "\r\nuri=abc",
                             "/playQueues"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(FramingRetry, GetRetriedOnceWhenThePooledConnectionClosesUnanswered) {
  upstream.script([](const ParsedRequest& req, std::uint64_t, std::size_t nth) {
    if (req.path() == "/a" && nth >= 2) return Action::close_silently();
    return RawUpstream::echo(req);
  });
  start();
  const auto pooled = warm_pool();
  Wire a(http_port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  auto res = a.read_response(5s);
  EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
  EXPECT_NE(res.body.find("GET /a on connection"), std::string::npos) << escape_bytes(res.raw);
  auto seen = upstream.requests_to("/a");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].connection, pooled);
  EXPECT_NE(seen[1].connection, pooled) << "retried on the dead connection";
}

TEST_F(FramingRetry, GetRetriedAtMostOnce) {
  upstream.script([](const ParsedRequest& req, std::uint64_t, std::size_t) {
    if (req.path() == "/a") return Action::close_silently();
    return RawUpstream::echo(req);
  });
  start();
  warm_pool();
  Wire a(http_port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  auto res = a.read_response(5s);
  EXPECT_EQ(res.status, 502) << escape_bytes(res.raw);
  EXPECT_EQ(upstream.count("/a"), 2u) << "once on the pooled connection, once on a fresh one";
}

// Part of an answer arrived: the server did act on the request.
TEST_F(FramingRetry, GetNotRetriedAfterPartOfAHead) {
  upstream.script([](const ParsedRequest& req, std::uint64_t, std::size_t nth) {
    if (req.path() == "/a" && nth >= 2)
      return Action::send("HTTP/1.1 200 OK\r\nContent-Le", Then::close);
    return RawUpstream::echo(req);
  });
  start();
  warm_pool();
  Wire a(http_port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  auto res = a.read_response(5s);
  EXPECT_EQ(res.status, 502) << escape_bytes(res.raw);
  EXPECT_EQ(upstream.count("/a"), 1u) << "retried after part of the answer had arrived";
}

// ---- 13. HTTP/1.0 clients ----

TEST_F(FramingResponse, Http10ClientGetsAPlainBodyEndedByTheClose) {
  upstream.script([](const ParsedRequest& req, std::uint64_t, std::size_t) {
    if (req.path() != "/a") return RawUpstream::echo(req);
    return Action::send(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
        chunk("hello") + chunk(" world") + "0\r\n\r\n");
  });
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.0\r\nHost: a.example\r\n\r\n"));
  EXPECT_TRUE(a.closed_within(3s)) << "an HTTP/1.0 body without a length ends with the close";
  const std::string got = a.unread();
  auto head_end = got.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << escape_bytes(got);
  const std::string head = got.substr(0, head_end + 2);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200")) << head;
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(lower.find("transfer-encoding"), std::string::npos) << escape_bytes(head);
  if (auto at = lower.find("content-length:"); at != std::string::npos) {
    EXPECT_EQ(lower.substr(at, lower.find("\r\n", at) - at), "content-length: 11");
  }
  EXPECT_EQ(got.substr(head_end + 4), "hello world");
}

// ---- 14. A client leaving a stream ----

struct Leaving {
  const char* name;
  bool tls;
  bool events;                // server-sent events; else a long poll with no head yet
  bool next_started = false;  // the client had sent the start of a next request
};

void PrintTo(const Leaving& c, std::ostream* os) {
  *os << c.name;
}

// Bytes of a next request that wait to be read do not hide the client's leaving.
constexpr std::string_view kNextStarted = "GET /next HTTP/1.1\r\nHo";

class FramingClientLeaves : public FramingTest, public ::testing::WithParamInterface<Leaving> {};
TEST_P(FramingClientLeaves, ServerSideClosedAtOnce) {
  const bool events = GetParam().events;
  const std::string path = events ? "/:/eventsource/notifications" : "/:/timeline/poll";
  upstream.script([events](const ParsedRequest& req, std::uint64_t, std::size_t) {
    if (req.path() == "/:/eventsource/notifications" && events)
      return Action::events(
          "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
          "Transfer-Encoding: chunked\r\n\r\n" +
              chunk("event: ping\ndata: 1\n\n"),
          chunk("event: ping\ndata: more\n\n"), 2s);
    if (req.path() == "/:/timeline/poll")
      return Action::send_after(10s, answer("done"));  // ends early when the peer leaves
    return RawUpstream::echo(req);
  });
  start();
  const std::string target = path;
  Clock::time_point left;
  if (GetParam().tls) {
    auto a = HttpClient::tls(proxy->https_port(), proxy->ca_file(), 10s);
    Request req{http::verb::get, target, 11};
    req.set(http::field::host, "a.example");
    if (events) {
      std::string got;
      a->stream(std::move(req), nullptr, [&](std::string_view piece) {
        got.append(piece);
        return got.find("data: 1") == std::string::npos;
      });
      ASSERT_NE(got.find("data: 1"), std::string::npos);
    } else {
      a->write(std::move(req));
      ASSERT_TRUE(upstream.wait_requests(1, 3s));
      if (GetParam().next_started) a->write_raw(kNextStarted);
      std::this_thread::sleep_for(200ms);
    }
    left = Clock::now();
    a->close();
  } else {
    Wire a(http_port());
    ASSERT_TRUE(a.send("GET " + target + " HTTP/1.1\r\nHost: a.example\r\n\r\n"));
    if (events) {
      ASSERT_TRUE(a.read_until("data: 1", 3s)) << escape_bytes(a.unread());
    } else {
      ASSERT_TRUE(upstream.wait_requests(1, 3s));
      if (GetParam().next_started) {
        ASSERT_TRUE(a.send(kNextStarted));
      }
      std::this_thread::sleep_for(200ms);
    }
    left = Clock::now();
    a.close();
  }
  const auto conn = connection_of(path);
  ASSERT_NE(conn, 0u);
  auto closed = upstream.wait_peer_closed(conn, 3s);
  if (!closed)
    std::printf("%s: server side still open 3000 ms after the client left\n", GetParam().name);
  ASSERT_TRUE(closed) << "the server side was still open 3 s after the client left";
  const auto after = ms_between(left, *closed);
  std::printf("%s: server side closed %lld ms after the client left\n", GetParam().name, after);
  EXPECT_LE(after, 300) << "the design asks for 100 ms";
}
INSTANTIATE_TEST_SUITE_P(
    Framing, FramingClientLeaves,
    ::testing::Values(Leaving{"EventStream", false, true}, Leaving{"LongPoll", false, false},
                      Leaving{"EventStreamOverHttps", true, true},
                      Leaving{"LongPollOverHttps", true, false},
                      Leaving{"LongPollWithANextRequestStarted", false, false, true},
                      Leaving{"LongPollOverHttpsWithANextRequestStarted", true, false, true}),
    [](const auto& info) { return std::string(info.param.name); });

// ==== Well-behaved traffic passes unchanged ====

using FramingWellBehaved = FramingTest;

TEST_F(FramingWellBehaved, ChunkedRequestBodyArrivesWhole) {
  start();
  auto c = HttpClient::plain(http_port(), 10s);
  c->write_raw("POST /upload HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (std::string_view piece : {"hello", " world", ", and more"}) {
    std::this_thread::sleep_for(20ms);
    c->write_raw(chunk(piece));
  }
  c->write_raw("0\r\n\r\n");
  auto res = c->read();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_NE(res.body().find("POST /upload on connection"), std::string::npos) << res.body();
  expect_framed_once(upstream.requests_to("/upload"), "hello world, and more");
}

TEST_F(FramingWellBehaved, PostWithContentLengthArrivesWhole) {
  start();
  auto c = HttpClient::plain(http_port(), 10s);
  std::string body;
  for (std::size_t i = 0; i < 100'000; ++i) body.push_back(pattern_byte(i));
  auto req = c->request(http::verb::post, "/upload");
  req.body() = body;
  auto res = c->send(std::move(req));
  EXPECT_EQ(res.result_int(), 200u);
  auto seen = upstream.requests_to("/upload");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen.front().values("Content-Length"), std::vector<std::string>{"100000"});
  EXPECT_EQ(seen.front().count("Transfer-Encoding"), 0u);
  EXPECT_TRUE(seen.front().body == body) << "the body changed on the way";
}

TEST_F(FramingWellBehaved, TwentyKeepAliveRequestsAnsweredInOrder) {
  start();
  auto c = HttpClient::plain(http_port(), 20s);
  for (int i = 0; i < 20; ++i) {
    const std::string target = "/seq/" + std::to_string(i);
    auto res = c->send(c->request(http::verb::get, target));
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_NE(res.body().find("GET " + target + " on connection"), std::string::npos)
        << "request " << i << " got: " << res.body();
  }
  auto seen = upstream.requests();
  ASSERT_EQ(seen.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(seen[i].target, "/seq/" + std::to_string(i));
}

TEST_F(FramingWellBehaved, PipelinedRequestsAnsweredInOrder) {
  start();
  Wire a(http_port());
  ASSERT_TRUE(
      a.send("GET /p1 HTTP/1.1\r\nHost: a.example\r\n\r\n"
             "POST /p2 HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\n\r\nhello"
             "GET /p3 HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  for (std::string_view expected : {"GET /p1 ", "POST /p2 ", "GET /p3 "}) {
    auto res = a.read_response(3s);
    EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
    EXPECT_TRUE(res.body.starts_with(expected))
        << "expected the answer to " << expected << ", got: " << escape_bytes(res.raw);
  }
  auto p2 = upstream.requests_to("/p2");
  ASSERT_EQ(p2.size(), 1u);
  EXPECT_EQ(p2.front().body, "hello");
  expect_upstream_saw_only({"/p1", "/p2", "/p3"});
}

}  // namespace
}  // namespace plextap::itest
