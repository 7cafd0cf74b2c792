// More of the framing rule (DESIGN.md section 9), each case a way found to break it: the
// interim answers Beast has no name for, status lines the proxy would write malformed,
// and framing fields spelled so that only some servers recognise them.
#include <chrono>
#include <string>
#include <string_view>
#include <thread>

#include "tests/integration/framing_support.hpp"

namespace plextap::itest {
namespace {

using namespace std::chrono_literals;
using Action = RawUpstream::Action;

std::string length_field(std::size_t n) {
  return "Content-Length: " + std::to_string(n) + "\r\n";
}

// ---- Interim (1xx) answers ----

struct Interim {
  const char* name;
  std::string head;  // one or more 1xx heads
};

void PrintTo(const Interim& c, std::ostream* os) {
  *os << c.name;
}

// The server sends an interim answer at once and the final one a moment later, as Early
// Hints are meant to be used. An interim answer is never the answer: taking it for one
// would give A nothing and pool a connection whose real answer is still coming, for the
// next client to receive.
class FramingInterim : public FramingTest, public ::testing::WithParamInterface<Interim> {};
TEST_P(FramingInterim, FinalAnswerReachesItsOwnClientOnly) {
  const std::string head = GetParam().head;
  upstream.script([head](const ParsedRequest& req, std::uint64_t, std::size_t) {
    if (req.path() != "/a") return RawUpstream::echo(req);
    return Action::send(head).then_send(
        300ms, "HTTP/1.1 200 OK\r\n" + length_field(10) + "\r\nfor-A-only");
  });
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  auto res = a.read_response(3s);
  EXPECT_EQ(res.status, 200) << escape_bytes(res.raw);
  EXPECT_EQ(res.body, "for-A-only");
  // Pooling A's connection is fine once its final answer has ended.
  expect_b_gets_its_own_answer();
  expect_upstream_saw_only({"/a", "/b-marker"});
}
INSTANTIATE_TEST_SUITE_P(
    Framing, FramingInterim,
    ::testing::Values(
        Interim{"EarlyHints",
                "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"},
        Interim{"UnnamedInterim", "HTTP/1.1 150 Whatever\r\n\r\n"},
        Interim{"ContinueThenEarlyHints",
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- Status lines ----

// Beast reads any three digits as a status code; written back as a number, 099 would
// reach the client as "HTTP/1.1 99", a status line no client parses.
struct Status {
  const char* name;
  std::string line;
};

void PrintTo(const Status& c, std::ostream* os) {
  *os << c.name;
}

class FramingStatus : public FramingTest, public ::testing::WithParamInterface<Status> {};
TEST_P(FramingStatus, BelowOneHundredGives502AndTheConnectionIsDropped) {
  const std::string line = GetParam().line;
  upstream.script([line](const ParsedRequest& req, std::uint64_t, std::size_t) {
    if (req.path() != "/a") return RawUpstream::echo(req);
    return Action::send(line + "\r\n" + length_field(2) + "\r\nhi");
  });
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send("GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"));
  auto res = a.read_response(3s);
  EXPECT_EQ(res.status, 502) << escape_bytes(res.raw);
  const auto a_conn = connection_of("/a");
  EXPECT_TRUE(upstream.wait_peer_closed(a_conn, 2s)) << "that connection was kept";
  expect_b_gets_its_own_answer();
}
INSTANTIATE_TEST_SUITE_P(Framing, FramingStatus,
                         ::testing::Values(Status{"Zero", "HTTP/1.1 000 Zero"},
                                           Status{"NinetyNine", "HTTP/1.1 099 Low"}),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- Field names with '_' ----

// Content_Length, Transfer_Encoding and X_Forwarded_For are unknown fields to the proxy,
// which would pass them on next to its own framing and forwarding fields; a server that
// maps names to CGI-style variables (HTTP_TRANSFER_ENCODING) reads them as the real ones.
// Refused, like a second framing field.
struct Underscore {
  const char* name;
  std::string request;
};

void PrintTo(const Underscore& c, std::ostream* os) {
  *os << c.name;
}

std::string chunked_in_length(std::string_view te_name) {
  const std::string body = chunk(kSmuggled) + "0\r\n\r\n";
  return "POST /a HTTP/1.1\r\nHost: a.example\r\n" + std::string(te_name) + ": chunked\r\n" +
         length_field(body.size()) + "\r\n" + body;
}

class FramingUnderscore : public FramingTest, public ::testing::WithParamInterface<Underscore> {};
TEST_P(FramingUnderscore, RefusedAndNothingForwarded) {
  start();
  Wire a(http_port());
  ASSERT_TRUE(a.send(GetParam().request));
  expect_refused(a, {400});
  expect_b_gets_its_own_answer();
  expect_upstream_saw_only({"/b-marker"});
}
INSTANTIATE_TEST_SUITE_P(
    Framing, FramingUnderscore,
    ::testing::Values(
        Underscore{"TransferEncoding", chunked_in_length("Transfer_Encoding")},
        Underscore{"TransferEncodingMixed", chunked_in_length("transfer_Encoding")},
        Underscore{"ContentLength",
                   "POST /a HTTP/1.1\r\nHost: a.example\r\nContent_Length: 35\r\n\r\n" +
                       std::string(kSmuggled)},
        Underscore{"ForwardedFor",
                   "GET /a HTTP/1.1\r\nHost: a.example\r\nX_Forwarded_For: 10.0.0.1\r\n\r\n"},
        Underscore{"RealIp", "GET /a HTTP/1.1\r\nHost: a.example\r\nX_Real_IP: 10.0.0.1\r\n\r\n"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace plextap::itest
