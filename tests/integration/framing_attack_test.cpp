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

}  // namespace
}  // namespace plextap::itest
