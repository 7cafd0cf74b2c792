// plextap's own outbound requests against a server that drips its answer, a byte now and
// then (README "When things go wrong", "Enrichment"): each enrichment fetch ends at its
// deadline and is counted while forwarding goes on; SIGTERM during such a fetch still
// ends `serve` within --drain-timeout plus 5 s with what was recorded committed; and
// `replay send` gives up on a request at its --timeout.
#include <csignal>
#include <fstream>
#include <thread>

#include "tests/integration/fixture.hpp"
#include "tests/integration/raw_upstream.hpp"
#include "tests/integration/recording_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Action = RawUpstream::Action;

constexpr std::string_view kToken = "driptoken77";
// A head that promises more than will ever come, then one byte every `kDrip`.
constexpr std::string_view kDripHead =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{";
constexpr auto kDrip = 500ms;

// The stand-in server: metadata and /status/sessions drip; everything else is answered
// at once (forwarding).
void drip_enrichment(RawUpstream& upstream) {
  upstream.script([](const ParsedRequest& req, std::uint64_t, std::size_t) {
    if (req.path().starts_with("/library/metadata/") || req.path() == "/status/sessions")
      return Action::events(std::string(kDripHead), " ", kDrip);
    return RawUpstream::echo(req);
  });
}

std::string timeline(std::string_view key, long long time_ms) {
  std::string t = "/:/timeline?ratingKey=";
  t += key;
  t += "&key=%2Flibrary%2Fmetadata%2F";
  t += key;
  t += "&state=playing&time=" + std::to_string(time_ms) +
       "&duration=5423794&X-Plex-Client-Identifier=drip-client";
  return t;
}

class DeadlineTest : public ::testing::Test {
 protected:
  DeadlineTest() { std::signal(SIGPIPE, SIG_IGN); }
  void TearDown() override {
    if (HasFailure() && proxy)
      std::printf("---- plextap stderr ----\n%s---- upstream ----\n%s\n",
                  proxy->stderr_text().c_str(), upstream.describe().c_str());
  }
  void start(const std::vector<std::string>& extra) {
    std::vector<std::string> flags{"--plex-token", std::string(kToken)};
    flags.insert(flags.end(), extra.begin(), extra.end());
    proxy = std::make_unique<PlextapProcess>(upstream.port(), flags);
  }
  // GET through the plain listener; the time the answer took.
  std::chrono::milliseconds forward(const std::string& target) {
    auto c = HttpClient::plain(proxy->http_port(), 10s);
    auto began = Clock::now();
    auto res = c->send(c->request(http::verb::get, target));
    EXPECT_EQ(res.result_int(), 200) << target;
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began);
  }
  std::string metrics() {
    auto c = HttpClient::plain(proxy->admin_port(), 10s);
    return c->send(c->request(http::verb::get, "/metrics")).body();
  }
  // The first request to a path starting with `prefix`, once it arrived.
  std::optional<ParsedRequest> await_request(std::string_view prefix,
                                             std::chrono::milliseconds limit) {
    std::optional<ParsedRequest> found;
    wait_until(
        [&] {
          for (auto& r : upstream.requests())
            if (r.path().starts_with(prefix)) {
              found = r;
              return true;
            }
          return false;
        },
        limit);
    return found;
  }

  RawUpstream upstream;  // declared first: destroyed after plextap
  std::unique_ptr<PlextapProcess> proxy;
};

// A metadata fetch the server drips is cut at --enrich-timeout, closed, counted as a
// timeout and a failure; forwarding answers at once all the while.
TEST_F(DeadlineTest, DrippedMetadataFetchEndsAtItsDeadlineWhileForwardingGoesOn) {
  drip_enrichment(upstream);
  start({"--enrich-timeout", "2s"});
  forward(timeline("101", 0));
  auto fetch = await_request("/library/metadata/101", 15s);
  ASSERT_TRUE(fetch) << "no metadata fetch";
  const auto fetch_began = fetch->received_at;

  // Forwarding does not wait for enrichment.
  for (int i = 0; i < 3; ++i) EXPECT_LT(forward("/identity?n=" + std::to_string(i)), 1s);

  auto closed = upstream.wait_peer_closed(fetch->connection, 6s);
  ASSERT_TRUE(closed) << "the fetch was not given up within 6 s";
  const auto took = ms_between(fetch_began, *closed);
  EXPECT_GE(took, 1'800) << "closed before its deadline";
  EXPECT_LT(took, 3'500) << "closed long after its 2 s deadline";

  std::string text;
  wait_until(
      [&] {
        text = metrics();
        return metric_value(text, R"(plextap_enrich_fetches_total{result="failed"})") >= 1;
      },
      3s, 100ms);
  EXPECT_GE(metric_value(text, "plextap_enrich_fetch_timeouts_total"), 1) << text;
  EXPECT_GE(metric_value(text, R"(plextap_enrich_fetches_total{result="failed"})"), 1) << text;
  EXPECT_EQ(metric_value(text, R"(plextap_enrich_fetches_total{result="ok"})"), 0) << text;
  EXPECT_TRUE(contains(proxy->stderr_text(), "no complete answer within 2 s"))
      << proxy->stderr_text();
  EXPECT_FALSE(contains(proxy->stderr_text(), kToken));
  EXPECT_LT(forward("/identity?after"), 1s);
}

// SIGTERM while the server drips an enrichment answer (its deadline far away): the fetch
// is cancelled, not waited for; plextap exits 0 within --drain-timeout plus 5 s, and what
// was recorded just before the signal is in the store.
TEST_F(DeadlineTest, SigtermDuringDrippedFetchExitsInTimeWithEventsCommitted) {
  drip_enrichment(upstream);
  start({"--enrich-timeout", "60s", "--drain-timeout", "2s"});
  forward(timeline("202", 0));
  auto fetch = await_request("/status/sessions", 15s);
  if (!fetch) fetch = await_request("/library/metadata/", 1s);
  ASSERT_TRUE(fetch) << "no enrichment fetch began";
  std::this_thread::sleep_for(1s);  // well into the drip
  constexpr int kLate = 5;
  for (int i = 1; i <= kLate; ++i) forward(timeline("202", i * 1000LL));
  ASSERT_FALSE(upstream.connection(fetch->connection)->peer_closed_at)
      << "the fetch ended before SIGTERM; nothing to cancel";

  const auto signalled = Clock::now();
  proxy->signal(SIGTERM);
  auto code = proxy->wait_exit(2s + 5s);
  ASSERT_TRUE(code) << "still running 7 s after SIGTERM (--drain-timeout 2s)";
  EXPECT_EQ(*code, 0);
  EXPECT_LT(ms_between(signalled, Clock::now()), 4'000) << "waited for the dripping server";
  EXPECT_FALSE(contains(proxy->stderr_text(), "dropped")) << proxy->stderr_text();

  auto r = run_plextap({"export", "events", "--data", (proxy->dir() / "data").string()});
  auto events = export_result_lines(r, "events");
  int timelines = 0;
  for (const auto& e : events)
    if (e.str("/kind") == "timeline" && e.str("/rating_key") == "202") ++timelines;
  EXPECT_EQ(timelines, 1 + kLate) << r.out;
}

// `replay send` against a target that drips its answer: the request fails at --timeout
// (a deadline for the whole request, not for each read) and is reported as no answer.
TEST(ReplaySendDeadline, ADrippingTargetFailsTheRequestAtTheTimeout) {
  TempDir dir;
  RawUpstream target;
  target.script([](const ParsedRequest&, std::uint64_t, std::size_t) {
    return Action::events(std::string(kDripHead), " ", kDrip);
  });
  std::ofstream(dir.path() / "one.har")
      << R"({"log":{"version":"1.2","entries":[{"startedDateTime":"2026-11-24T20:00:00.000Z",)"
      << R"("time":1,"request":{"method":"GET","url":"http://plex/library/sections",)"
      << R"("headers":[]},"response":{"status":200,"headers":[],"content":{"text":"ok"}}}]}})";
  const fs::path report = dir.path() / "r.jsonl";
  const auto began = Clock::now();
  auto r = run_plextap({"replay", "send", "--har", (dir.path() / "one.har").string(), "--target",
                        "http://127.0.0.1:" + std::to_string(target.port()), "--timeout", "2s",
                        "--report", report.string()},
                       15s);
  const auto took = ms_between(began, Clock::now());
  // Not a single request was answered: the run fails.
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_GE(took, 1'800);
  EXPECT_LT(took, 4'000) << "the dripping target held the request past its timeout";
  EXPECT_TRUE(contains(r.out, "answered 0, no answer 1")) << r.out;
  EXPECT_TRUE(contains(read_file(report), "no complete answer within the timeout"))
      << read_file(report);
  EXPECT_EQ(target.count("/library/sections"), 1u) << "a timed-out request is not sent twice";
}

}  // namespace
}  // namespace plextap::itest
