// When something goes wrong on either side: the proxy answers for a dead or silent
// upstream, refuses bad input, drops slow clients, and lets go of an upstream whose
// client has left.
#include "tests/integration/fixture.hpp"

namespace plextap::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using FailureTest = ProxyTest;

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.starts_with(prefix);
}

TEST_F(FailureTest, UpstreamDownGives502NamingTheUpstream) {
  DeadPort dead;
  proxy = std::make_unique<PlextapProcess>(dead.port());
  auto c = http(10s);
  auto res = c->send(c->request(http::verb::get, "/small"));
  EXPECT_EQ(res.result_int(), 502);
  EXPECT_NE(res.body().find("<Response"), std::string::npos) << res.body();
  EXPECT_NE(res.body().find("127.0.0.1:" + std::to_string(dead.port())), std::string::npos)
      << res.body();
  EXPECT_NE(res[http::field::content_type].find("xml"), std::string::npos);
}

TEST_F(FailureTest, SilentUpstreamGives504AfterUpstreamTimeout) {
  start({"--upstream-timeout", "1s"});
  auto c = http(10s);
  auto started = Clock::now();
  auto res = c->send(c->request(http::verb::get, "/silent"));
  auto took = ms_between(started, Clock::now());
  EXPECT_EQ(res.result_int(), 504);
  EXPECT_NE(res.body().find("<Response"), std::string::npos) << res.body();
  EXPECT_GE(took, 900);
  EXPECT_LE(took, 3000);
}

TEST_F(FailureTest, MalformedHeadGets400AndClose) {
  start();
  RawConnection raw(proxy->http_port());
  ASSERT_TRUE(raw.send("GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n"));
  auto got = raw.read_until_close(3s);
  EXPECT_TRUE(starts_with(got.data, "HTTP/1.1 400")) << got.data;
  EXPECT_TRUE(got.closed) << "connection left open";
  EXPECT_TRUE(upstream.requests().empty()) << "a malformed request reached the upstream";
  expect_still_serving();
}

TEST_F(FailureTest, InvalidChunkedBodyGets400AndClose) {
  start();
  RawConnection raw(proxy->http_port());
  ASSERT_TRUE(
      raw.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "zz\r\nhello\r\n0\r\n\r\n"));
  auto got = raw.read_until_close(3s);
  EXPECT_TRUE(starts_with(got.data, "HTTP/1.1 400")) << got.data;
  EXPECT_TRUE(got.closed) << "connection left open";
  expect_still_serving();
}

TEST_F(FailureTest, OversizedHeadGets431) {
  start();
  RawConnection raw(proxy->http_port());
  raw.send("GET /small HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n");
  auto got = raw.read_until_close(3s);
  EXPECT_TRUE(starts_with(got.data, "HTTP/1.1 431")) << got.data.substr(0, 200);
  EXPECT_TRUE(got.closed) << "connection left open";
  expect_still_serving();
}

TEST_F(FailureTest, SlowHeadIsCutOffAfterHeaderTimeout) {
  start({"--header-timeout", "1s"});
  RawConnection raw(proxy->http_port());
  ASSERT_TRUE(raw.send("GET /sma"));
  auto got = raw.read_until_close(5s);
  EXPECT_TRUE(got.closed) << "still open after " << got.took.count() << " ms";
  EXPECT_GE(got.took.count(), 800);
  EXPECT_LE(got.took.count(), 3000);
}

TEST_F(FailureTest, StalledTlsHandshakeIsCutOffAfterHeaderTimeout) {
  start({"--header-timeout", "1s"});
  RawConnection raw(proxy->https_port());
  auto got = raw.read_until_close(5s);
  EXPECT_TRUE(got.closed) << "still open after " << got.took.count() << " ms";
  EXPECT_GE(got.took.count(), 800);
  EXPECT_LE(got.took.count(), 3000);
}

class ClientLeaving : public ProxyTest, public ::testing::WithParamInterface<bool> {};

// Over TLS the proxy's write to a vanished client used to raise SIGPIPE and end it.
TEST_P(ClientLeaving, MidStreamReleasesUpstreamAndProxySurvives) {
  start();
  auto c = GetParam() ? https(30s) : http(30s);
  const auto aborted_before = upstream.aborted_responses();
  std::uint64_t got = 0;
  auto head = c->stream(c->request(http::verb::get, "/bytes?n=1073741824"), nullptr,
                        [&](std::string_view piece) {
                          got += piece.size();
                          return got < 1024 * 1024;
                        });
  EXPECT_EQ(head.result_int(), 200);
  EXPECT_GE(got, 1024u * 1024u);
  c->close();
  EXPECT_TRUE(wait_until([&] { return upstream.aborted_responses() > aborted_before; }, 5s))
      << "the upstream kept streaming to nobody";
  expect_still_serving();
}

INSTANTIATE_TEST_SUITE_P(Listeners, ClientLeaving, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Https" : "Http"; });

}  // namespace
}  // namespace plextap::itest
