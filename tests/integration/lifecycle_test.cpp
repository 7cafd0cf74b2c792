// The proxy as a long-running process: it gives back every descriptor, drains on
// SIGTERM, keeps tokens out of its logs, reports itself on the admin listener, and its
// command line fails the way scripts expect.
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <thread>

#include "tests/integration/fixture.hpp"

namespace plextap::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using LifecycleTest = ProxyTest;
using AdminTest = ProxyTest;

// The value of one sample ("name{labels}" exactly as rendered) in Prometheus text, or -1.
long long metric_value(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::atoll(text.c_str() + at + series.size() + 2);
}

TEST_F(LifecycleTest, DescriptorsReturnToBaseline) {
  // Short idle timeouts, so pooled upstream connections are reaped while we watch.
  start({"--upstream-idle-timeout", "1s", "--upstream-timeout", "1s"});
  {
    auto warm = https();
    ASSERT_EQ(warm->send(warm->request(http::verb::get, "/small")).result_int(), 200);
  }
  // Pooled connection reaped: idle timeout plus one sweep period.
  std::this_thread::sleep_for(2500ms);
  const int baseline = proxy->open_fds();
  ASSERT_GT(baseline, 0);

  for (int i = 0; i < 5; ++i) {
    auto c = https();
    EXPECT_EQ(c->send(c->request(http::verb::get, "/small")).result_int(), 200);
  }
  {
    auto c = https();
    EXPECT_EQ(c->send(c->request(http::verb::get, "/nothing-here")).result_int(), 404);
  }
  {
    auto c = http();
    EXPECT_EQ(c->send(c->request(http::verb::get, "/silent")).result_int(), 504);
  }
  {
    // A 400 from the body relay. (Bad request heads have tests of their own.)
    RawConnection raw(proxy->http_port());
    raw.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    EXPECT_TRUE(raw.read_until_close(3s).closed);
  }
  {
    RawConnection raw(proxy->https_port());
    raw.send("GET / HTTP/1.1\r\n\r\n");  // plain text on the TLS port
    EXPECT_TRUE(raw.read_until_close(3s).closed);
  }
  {
    WsClient ws(proxy->https_port(), proxy->ca_file(), "/:/websockets/notifications");
    EXPECT_EQ(ws.read(), StandInUpstream::kNotification);
    ws.close();
  }
  {
    auto c = http();
    std::uint64_t got = 0;
    c->stream(c->request(http::verb::get, "/bytes?n=1073741824"), nullptr, [&](std::string_view p) {
      got += p.size();
      return got < 256 * 1024;
    });
  }

  constexpr int kConcurrent = 20;
  std::vector<std::unique_ptr<HttpClient>> open(kConcurrent);
  std::atomic<int> ok{0};
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < kConcurrent; ++i)
      threads.emplace_back([&, i] {
        try {
          auto c = client(i % 2 == 0);
          if (c->send(c->request(http::verb::get, "/small")).result_int() == 200 &&
              c->send(c->request(http::verb::get, "/chunked")).result_int() == 200)
            ++ok;
          open[static_cast<std::size_t>(i)] = std::move(c);
        } catch (const std::exception&) {
        }
      });
  }
  EXPECT_EQ(ok.load(), kConcurrent);
  const int busy = proxy->open_fds();
  EXPECT_GT(busy, baseline) << "the fd count does not see connections";
  open.clear();

  int now = -1;
  EXPECT_TRUE(
      wait_until([&] { return (now = proxy->open_fds()) >= 0 && now <= baseline; }, 6s, 100ms))
      << "baseline " << baseline << ", with 20 clients " << busy << ", 6 s after closing " << now;
  EXPECT_FALSE(proxy->wait_exit(0ms)) << "plextap died";
}

TEST_F(LifecycleTest, SigtermLetsRequestInFlightFinish) {
  start({"--drain-timeout", "5s"});
  auto idle = http();  // keep-alive, nothing in flight: should be closed at once
  ASSERT_EQ(idle->send(idle->request(http::verb::get, "/small")).result_int(), 200);
  auto busy = https();
  busy->write(busy->request(http::verb::get, "/slow?ms=1500"));
  ASSERT_TRUE(wait_until([&] { return upstream.find("/slow?ms=1500").has_value(); }, 3s));

  const auto signalled = Clock::now();
  proxy->signal(SIGTERM);
  const bool refused = wait_until(
      [&] {
        return !RawConnection::can_connect(proxy->http_port()) &&
               !RawConnection::can_connect(proxy->https_port());
      },
      1s, 10ms);
  EXPECT_TRUE(refused) << "still accepting connections 1 s after SIGTERM";
  EXPECT_TRUE(idle->closed_by_peer_within(1s)) << "idle keep-alive connection kept open";

  auto res = busy->read();
  const auto answered = Clock::now();
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "slow done");
  EXPECT_FALSE(res.keep_alive()) << "a draining proxy should say Connection: close";
  EXPECT_GE(ms_between(signalled, answered), 800) << "answered before the upstream did?";

  auto code = proxy->wait_exit(7s);
  ASSERT_TRUE(code) << "still running 7 s after SIGTERM";
  EXPECT_EQ(*code, 0) << proxy->stderr_text();
  EXPECT_LT(ms_between(signalled, Clock::now()), 5000) << "exit took longer than the drain timeout";
}

TEST_F(LifecycleTest, TokensAreRedactedInAccessLogAndStderr) {
  TempDir logs;
  const auto access_log = logs.path() / "access.log";
  start({"--access-log", access_log.string()});
  const std::string query_secret = "supersecrettoken123";
  const std::string header_secret = "headersecret456";
  {
    auto c = https();
    auto res = c->send(c->request(http::verb::get, "/small?X-Plex-Token=" + query_secret + "&x=1"));
    EXPECT_EQ(res.result_int(), 200);
    res = c->send(c->request(http::verb::get, "/missing?X-Plex-Token=" + query_secret));
    EXPECT_EQ(res.result_int(), 404);
  }
  {
    auto c = http();
    auto req = c->request(http::verb::get, "/small?from=header");
    req.set("X-Plex-Token", header_secret);
    EXPECT_EQ(c->send(req).result_int(), 200);
  }
  // The proxy forwards tokens untouched; only what it writes itself is redacted.
  EXPECT_TRUE(upstream.find("/small?X-Plex-Token=" + query_secret + "&x=1"));
  auto seen = upstream.find("/small?from=header");
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->header("X-Plex-Token"), header_secret);

  proxy->signal(SIGTERM);
  auto code = proxy->wait_exit(10s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);

  const std::string log = read_file(access_log);
  EXPECT_NE(log.find("\"GET /small?X-Plex-Token=REDACTED&x=1\" 200"), std::string::npos) << log;
  EXPECT_NE(log.find("\"GET /small?from=header\" 200"), std::string::npos) << log;
  for (const auto& secret : {query_secret, header_secret}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << " in the access log:\n" << log;
    EXPECT_EQ(proxy->stderr_text().find(secret), std::string::npos) << secret << " on stderr";
    EXPECT_EQ(proxy->stdout_text().find(secret), std::string::npos) << secret << " on stdout";
  }
}

TEST_F(AdminTest, HealthReadinessAndMetrics) {
  start();
  auto health = admin_get("/healthz");
  EXPECT_EQ(health.result_int(), 200);
  EXPECT_NE(health.body().find("ok"), std::string::npos);
  EXPECT_EQ(admin_get("/readyz").result_int(), 200);

  constexpr int kRequests = 3;
  auto c = https();
  for (int i = 0; i < kRequests; ++i)
    ASSERT_EQ(c->send(c->request(http::verb::get, "/small")).result_int(), 200);
  std::string metrics;
  // Counted once the exchange has ended, which may be just after the client has it all.
  bool counted = wait_until(
      [&] {
        auto res = admin_get("/metrics");
        metrics = res.body();
        return res.result_int() == 200 &&
               metric_value(metrics, "plextap_responses_total{class=\"2xx\"}") >= kRequests;
      },
      2s);
  EXPECT_TRUE(counted) << metrics;
  EXPECT_NE(metrics.find("plextap_request_duration_seconds_bucket"), std::string::npos);
}

// Every response is counted exactly once, whatever produced it.
TEST_F(AdminTest, MetricsCountEachResponseOnce) {
  start({"--upstream-timeout", "1s"});
  {
    auto c = http();
    EXPECT_EQ(c->send(c->request(http::verb::get, "/small")).result_int(), 200);
    EXPECT_EQ(c->send(c->request(http::verb::get, "/small")).result_int(), 200);
    EXPECT_EQ(c->send(c->request(http::verb::get, "/nothing-here")).result_int(), 404);
    EXPECT_EQ(c->send(c->request(http::verb::get, "/silent")).result_int(), 504);
  }
  // Counted once each exchange has ended, which may be just after the client has it all.
  std::string metrics;
  wait_until(
      [&] {
        metrics = admin_get("/metrics").body();
        return metric_value(metrics, "plextap_request_duration_seconds_count") >= 4;
      },
      3s);
  std::this_thread::sleep_for(200ms);  // anything counted twice has been by now
  metrics = admin_get("/metrics").body();
  EXPECT_EQ(metric_value(metrics, "plextap_responses_total{class=\"2xx\"}"), 2) << metrics;
  EXPECT_EQ(metric_value(metrics, "plextap_responses_total{class=\"4xx\"}"), 1) << metrics;
  EXPECT_EQ(metric_value(metrics, "plextap_responses_total{class=\"5xx\"}"), 1) << metrics;
  EXPECT_EQ(metric_value(metrics, "plextap_request_duration_seconds_count"), 4) << metrics;
  EXPECT_EQ(metric_value(metrics, "plextap_upstream_timeouts_total"), 1) << metrics;
}

TEST(CliTest, BadListenUrlIsAUsageError) {
  auto r = run_plextap({"serve", "--listen", "ftp://x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count(r.err, "\n"), 1u) << r.err;
  EXPECT_NE(r.err.find("ftp://x"), std::string::npos) << r.err;
}

TEST(CliTest, HelpExitsZero) {
  auto r = run_plextap({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("serve"), std::string::npos) << r.out;
}

// Every subcommand is real now: one without its own subcommand, or with a flag it does
// not know, is a usage error in one line.
TEST(CliTest, IncompleteOrUnknownReplayCommandIsAUsageError) {
  auto r = run_plextap({"replay"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count(r.err, "\n"), 1u) << r.err;
  EXPECT_NE(r.err.find("subcommand is required"), std::string::npos) << r.err;
  r = run_plextap({"replay", "serve", "--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;
  r = run_plextap({"replay", "send", "--har", "x.har"});
  EXPECT_EQ(r.exit_code, 2) << "--target is required";
  EXPECT_NE(r.err.find("--target"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace plextap::itest
