// The two limits of DESIGN section 9 through the real binary.
//   --upstream-max-connections: open upstream connections and connects in progress never
//     exceed the budget; requests beyond it wait (up to --connect-timeout) and then get
//     503 with Retry-After, counted in plextap_upstream_busy_total; the admin listener
//     keeps answering; places come back when connections finish or fail.
//   --queue-bytes: a flood of large tapped answers costs drops (reason queue_bytes) and a
//     degraded /readyz, not memory or forwarding latency; recording resumes once the
//     queue has drained.
// And both flags refuse values that make no sense: exit 2, one line on stderr.
// Long on purpose: each limit is tested from every side in one place.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <latch>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
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
using Canned = StandInUpstream::Canned;

// What one client got: the status (0 when the exchange failed), the fields a test looks
// at, and how long it took from the first byte sent.
struct Outcome {
  unsigned status = 0;
  std::string retry_after;
  std::string body;
  std::string error;
  long long ms = 0;
};

Outcome timed_get(std::uint16_t port, const std::string& target,
                  std::chrono::milliseconds limit = 10s) {
  Outcome out;
  auto started = Clock::now();
  try {
    auto c = HttpClient::plain(port, limit);
    auto res = c->send(c->request(http::verb::get, target));
    out.status = res.result_int();
    out.retry_after = std::string(res[http::field::retry_after]);
    out.body = res.body();
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  out.ms = ms_between(started, Clock::now());
  return out;
}

// `n` clients, each one GET of `target_of(i)` at the same moment; their outcomes in order.
std::vector<Outcome> concurrent_gets(std::uint16_t port, int n,
                                     const std::function<std::string(int)>& target_of,
                                     std::chrono::milliseconds limit = 10s) {
  std::vector<Outcome> outcomes(static_cast<std::size_t>(n));
  std::latch go(n);
  {
    std::vector<std::jthread> clients;
    for (int i = 0; i < n; ++i)
      clients.emplace_back([&, i] {
        go.arrive_and_wait();
        outcomes[static_cast<std::size_t>(i)] = timed_get(port, target_of(i), limit);
      });
  }
  return outcomes;
}

std::string slow_target(int i) {
  return "/slow?client=" + std::to_string(i);
}

// A 200 carrying RawUpstream's echo body, so that each client can tell its own answer.
std::string echo_response(const ParsedRequest& req) {
  std::string body = RawUpstream::echo_body(req);
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

constexpr auto kCloseSeenLate = std::chrono::milliseconds(10);

// The most connections the upstream had open at one moment, from its accept and close
// times (a connection the peer has not closed is open to the end).
std::size_t max_open(const std::vector<RawUpstream::ConnectionRecord>& records) {
  std::vector<std::pair<Clock::time_point, int>> edges;
  for (const auto& r : records) {
    edges.emplace_back(r.accepted_at, +1);
    // The server's thread sees a close only once it runs: on a loaded machine that lags
    // the proxy's close by a few ms, while an accept is seen at once. The proxy closes a
    // socket before it gives the place back, so a close seen this shortly after an
    // accept came first.
    if (r.peer_closed_at) edges.emplace_back(*r.peer_closed_at - kCloseSeenLate, -1);
  }
  std::sort(edges.begin(), edges.end());  // at equal times a close (-1) comes first
  long open = 0, most = 0;
  for (const auto& [at, d] : edges) most = std::max(most, open += d);
  return static_cast<std::size_t>(most);
}

// How long one admin GET takes, and its status.
std::pair<unsigned, long long> timed_admin(std::uint16_t admin_port, const std::string& target) {
  auto o = timed_get(admin_port, target, 5s);
  return {o.status, o.ms};
}

class LimitsConnectionTest : public ::testing::Test {
 protected:
  LimitsConnectionTest() { std::signal(SIGPIPE, SIG_IGN); }
  void TearDown() override {
    if (HasFailure() && proxy)
      std::printf("---- plextap stderr ----\n%s---- upstream ----\n%s\n",
                  proxy->stderr_text().c_str(), upstream.describe().c_str());
  }
  void start(const std::vector<std::string>& extra) {
    proxy = std::make_unique<PlextapProcess>(upstream.port(), extra);
  }
  // Every request to the upstream is answered `hold` after it arrived.
  void answer_after(std::chrono::milliseconds hold) {
    upstream.script([hold](const ParsedRequest& req, std::uint64_t, std::size_t) {
      return Action::send_after(hold, echo_response(req));
    });
  }
  std::string metrics() {
    auto o = timed_get(proxy->admin_port(), "/metrics", 5s);
    return o.body;
  }
  long long busy_total() { return metric_value(metrics(), "plextap_upstream_busy_total"); }

  // Checks the admin listener answers /healthz and /metrics within `limit` right now.
  void expect_admin_prompt(const char* when, std::chrono::milliseconds limit = 500ms) {
    for (const char* target : {"/healthz", "/metrics"}) {
      auto [status, ms] = timed_admin(proxy->admin_port(), target);
      std::printf("admin %s %s: %u in %lld ms\n", target, when, status, ms);
      EXPECT_EQ(status, 200u) << target << " " << when;
      EXPECT_LT(ms, limit.count()) << target << " " << when;
    }
  }

  RawUpstream upstream;
  std::unique_ptr<PlextapProcess> proxy;
};

void expect_own_answer(const Outcome& o, int i) {
  EXPECT_TRUE(o.body.starts_with("GET " + slow_target(i) + " on connection"))
      << "client " << i << " got: " << escape_bytes(o.body, 200);
}

// Twelve slow requests on one thread with four places: three waves of four, each
// waiting for the one before; all within the connect timeout, so all get 200.
TEST_F(LimitsConnectionTest, RequestsBeyondTheBudgetWaitTheirTurn) {
  constexpr auto kHold = 600ms;
  constexpr int kClients = 12;
  answer_after(kHold);
  start({"--threads", "1", "--upstream-max-connections", "4", "--connect-timeout", "3s"});

  std::vector<Outcome> outcomes;
  std::jthread load([&] { outcomes = concurrent_gets(proxy->http_port(), kClients, slow_target); });
  std::this_thread::sleep_for(300ms);
  expect_admin_prompt("during the first wave");
  load.join();

  long long slowest = 0;
  for (int i = 0; i < kClients; ++i) {
    const auto& o = outcomes[static_cast<std::size_t>(i)];
    EXPECT_EQ(o.status, 200u) << "client " << i << ": " << o.error << o.body;
    expect_own_answer(o, i);
    slowest = std::max(slowest, o.ms);
  }
  const auto records = upstream.connections();
  std::printf(
      "12 clients, 4 places, hold %lld ms: slowest answer %lld ms; upstream accepted %zu "
      "connections, at most %zu open at once\n",
      static_cast<long long>(kHold.count()), slowest, records.size(), max_open(records));
  EXPECT_EQ(max_open(records), 4u) << upstream.describe();
  EXPECT_LE(records.size(), 4u) << "released connections go straight to the waiting requests";
  EXPECT_EQ(upstream.requests().size(), static_cast<std::size_t>(kClients));
  // Three waves: the last one waited for two holds.
  EXPECT_GE(slowest, 3 * kHold.count() - 100);
  EXPECT_LT(slowest, 3 * kHold.count() + 1000);
  EXPECT_EQ(busy_total(), 0);

  // The places are back: a fresh request goes through at once, on a kept connection.
  answer_after(0ms);
  auto fresh = timed_get(proxy->http_port(), slow_target(99));
  EXPECT_EQ(fresh.status, 200u) << fresh.error;
  EXPECT_LT(fresh.ms, 500);
  EXPECT_LE(upstream.connections_accepted(), 4u);
}

// A hold longer than the connect timeout: the four with a place get 200, the eight
// waiting ones get 503 with Retry-After once the connect timeout has passed, counted.
TEST_F(LimitsConnectionTest, WaitLongerThanTheConnectTimeoutIs503WithRetryAfter) {
  constexpr auto kHold = 2500ms;
  constexpr int kClients = 12;
  answer_after(kHold);
  start({"--threads", "1", "--upstream-max-connections", "4", "--connect-timeout", "1s"});

  std::vector<Outcome> outcomes;
  std::jthread load([&] { outcomes = concurrent_gets(proxy->http_port(), kClients, slow_target); });
  std::this_thread::sleep_for(300ms);
  expect_admin_prompt("while 8 requests wait");
  std::this_thread::sleep_for(1200ms);
  expect_admin_prompt("after the 503s, while 4 are held");
  load.join();

  int ok = 0, busy = 0;
  long long busy_min = 1'000'000, busy_max = 0, ok_max = 0;
  for (int i = 0; i < kClients; ++i) {
    const auto& o = outcomes[static_cast<std::size_t>(i)];
    if (o.status == 200) {
      ++ok;
      expect_own_answer(o, i);
      ok_max = std::max(ok_max, o.ms);
    } else if (o.status == 503) {
      ++busy;
      EXPECT_EQ(o.retry_after, "2") << "client " << i;
      EXPECT_TRUE(contains(o.body, "busy")) << o.body;
      busy_min = std::min(busy_min, o.ms);
      busy_max = std::max(busy_max, o.ms);
    } else {
      ADD_FAILURE() << "client " << i << ": " << o.status << " " << o.error << o.body;
    }
  }
  const auto records = upstream.connections();
  std::printf(
      "12 clients, 4 places, hold %lld ms, connect timeout 1 s: %d x 200 (slowest %lld ms), "
      "%d x 503 (after %lld..%lld ms); upstream: %zu requests, %zu connections, at most "
      "%zu open\n",
      static_cast<long long>(kHold.count()), ok, ok_max, busy, busy_min, busy_max,
      upstream.requests().size(), records.size(), max_open(records));
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(busy, 8);
  EXPECT_GE(busy_min, 900) << "a 503 before the connect timeout: the request did not wait";
  EXPECT_LT(busy_max, 2000);
  EXPECT_LE(max_open(records), 4u) << upstream.describe();
  EXPECT_EQ(upstream.requests().size(), 4u) << "a refused request reached the server";
  EXPECT_EQ(busy_total(), 8);

  // Once the slow ones are done, their places serve new requests again.
  answer_after(0ms);
  auto fresh = timed_get(proxy->http_port(), slow_target(99));
  EXPECT_EQ(fresh.status, 200u) << fresh.error << fresh.body;
  EXPECT_LT(fresh.ms, 500);
  EXPECT_LE(upstream.connections_accepted(), 4u);
  EXPECT_EQ(busy_total(), 8);
}

// A client that gives up while its request waits for a place: the request is never sent
// to the server (it may change something there, and nobody would see the answer).
TEST_F(LimitsConnectionTest, RequestOfAClientThatLeftWhileWaitingIsNotForwarded) {
  constexpr auto kHold = 1500ms;
  answer_after(kHold);
  start({"--threads", "1", "--upstream-max-connections", "1", "--connect-timeout", "5s"});
  std::jthread holder([&] {
    auto o = timed_get(proxy->http_port(), slow_target(0));
    EXPECT_EQ(o.status, 200u) << o.error;
  });
  ASSERT_TRUE(upstream.wait_requests(1, 2s));
  {
    RawConnection leaver(proxy->http_port());
    ASSERT_TRUE(leaver.send("GET " + slow_target(1) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    std::this_thread::sleep_for(300ms);
  }  // closed while waiting for the one place
  holder.join();
  std::this_thread::sleep_for(500ms);  // the place is free again: time to (wrongly) use it
  std::printf("requests the server saw: %zu (%zu from the client that left)\n",
              upstream.requests().size(), upstream.requests_to("/slow").size() - 1);
  EXPECT_EQ(upstream.requests().size(), 1u) << upstream.describe();
  answer_after(0ms);
  auto fresh = timed_get(proxy->http_port(), slow_target(2));
  EXPECT_EQ(fresh.status, 200u) << fresh.error;
}

// One budget for all I/O threads: never exceeded in sum, whichever thread the kernel gives
// each client. Under pressure a thread closes a released connection rather than keep it
// idle while another thread waits, so connections may be opened anew: only the number
// open at once is bounded.
TEST_F(LimitsConnectionTest, BudgetIsSharedOutOverTheThreads) {
  constexpr auto kHold = 500ms;
  constexpr int kClients = 12;
  answer_after(kHold);
  start({"--threads", "2", "--upstream-max-connections", "3", "--connect-timeout", "5s"});
  auto outcomes = concurrent_gets(proxy->http_port(), kClients, slow_target);
  long long slowest = 0;
  for (int i = 0; i < kClients; ++i) {
    const auto& o = outcomes[static_cast<std::size_t>(i)];
    EXPECT_EQ(o.status, 200u) << "client " << i << ": " << o.error << o.body;
    expect_own_answer(o, i);
    slowest = std::max(slowest, o.ms);
  }
  const auto records = upstream.connections();
  std::printf(
      "2 threads, 3 places, 12 clients: slowest %lld ms, %zu connections, at most %zu "
      "open\n",
      slowest, records.size(), max_open(records));
  EXPECT_LE(max_open(records), 3u) << upstream.describe();
}

// Fewer places than threads: the flag is still the limit for the whole process.
TEST_F(LimitsConnectionTest, FewerPlacesThanThreadsStillBoundTheTotal) {
  constexpr auto kHold = 400ms;
  constexpr int kClients = 12;  // spread over both threads' listeners by the kernel
  answer_after(kHold);
  start({"--threads", "2", "--upstream-max-connections", "1", "--connect-timeout", "10s"});
  auto outcomes = concurrent_gets(proxy->http_port(), kClients, slow_target, 15s);
  long long slowest = 0;
  for (int i = 0; i < kClients; ++i) {
    const auto& o = outcomes[static_cast<std::size_t>(i)];
    EXPECT_EQ(o.status, 200u) << "client " << i << ": " << o.error << o.body;
    slowest = std::max(slowest, o.ms);
  }
  const auto records = upstream.connections();
  std::printf(
      "2 threads, 1 place, 12 clients: slowest %lld ms, %zu connections, at most %zu "
      "open\n",
      slowest, records.size(), max_open(records));
  EXPECT_LE(max_open(records), 1u)
      << "--upstream-max-connections 1 with 2 threads let more connections open at once";
}

// A server whose accept queue is full: connects hang (the kernel drops the SYNs). Only
// the budget's worth may be pending at once; everyone is answered in bounded time.
class FullBacklogListener {
 public:
  FullBacklogListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 0) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot listen");
    port_ = ntohs(addr.sin_port);
    // One connection fills a backlog of 0; nobody ever accepts it.
    filler_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (filler_ < 0 || ::connect(filler_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("cannot fill the backlog");
    sockaddr_in local{};
    len = sizeof local;
    ::getsockname(filler_, reinterpret_cast<sockaddr*>(&local), &len);
    filler_port_ = ntohs(local.sin_port);
  }
  ~FullBacklogListener() {
    ::close(filler_);
    ::close(fd_);
  }
  FullBacklogListener(const FullBacklogListener&) = delete;
  FullBacklogListener& operator=(const FullBacklogListener&) = delete;
  std::uint16_t port() const { return port_; }
  std::uint16_t filler_port() const { return filler_port_; }

 private:
  int fd_ = -1, filler_ = -1;
  std::uint16_t port_ = 0, filler_port_ = 0;
};

// The local ports of the sockets of this network namespace connecting or connected to
// 127.0.0.1:`port` (SYN_SENT or ESTABLISHED, from /proc/net/tcp), but for
// `except_local_port`. One read of the file is not one instant: sockets may come and go
// while it is read.
std::set<unsigned> sockets_towards(std::uint16_t port, std::uint16_t except_local_port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  std::set<unsigned> found;
  auto port_of = [](const std::string& address) {
    auto colon = address.find(':');
    return colon == std::string::npos
               ? 0u
               : static_cast<unsigned>(std::stoul(address.substr(colon + 1), nullptr, 16));
  };
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (port_of(remote) != port || port_of(local) == except_local_port) continue;
    if (state == "01" || state == "02") found.insert(port_of(local));
  }
  return found;
}

TEST(LimitsPendingConnects, AtMostTheBudgetIsConnectingToAServerThatDoesNotAccept) {
  std::signal(SIGPIPE, SIG_IGN);
  FullBacklogListener server;
  constexpr int kClients = 12;
  PlextapProcess proxy(server.port(), {"--threads", "1", "--upstream-max-connections", "4",
                                       "--connect-timeout", "1s", "--upstream-timeout", "2s"});

  std::atomic<bool> sampling{true};
  std::atomic<int> most{0}, samples{0};
  std::jthread sampler([&] {
    // A socket seen in two reads in a row was open all the time between them: those seen
    // in both were open at one moment together.
    std::set<unsigned> before;
    while (sampling) {
      auto now = sockets_towards(server.port(), server.filler_port());
      int both = static_cast<int>(
          std::count_if(now.begin(), now.end(), [&](unsigned p) { return before.count(p) > 0; }));
      most = std::max(most.load(), both);
      ++samples;
      before = std::move(now);
      std::this_thread::sleep_for(5ms);
    }
  });
  std::vector<Outcome> outcomes;
  std::jthread load([&] { outcomes = concurrent_gets(proxy.http_port(), kClients, slow_target); });
  std::this_thread::sleep_for(300ms);
  auto health = timed_admin(proxy.admin_port(), "/healthz");
  auto metrics = timed_admin(proxy.admin_port(), "/metrics");
  load.join();
  sampling = false;
  sampler.join();

  std::map<unsigned, int> by_status;
  long long slowest = 0;
  for (int i = 0; i < kClients; ++i) {
    const auto& o = outcomes[static_cast<std::size_t>(i)];
    ++by_status[o.status];
    slowest = std::max(slowest, o.ms);
    EXPECT_TRUE(o.status == 502 || o.status == 503 || o.status == 504)
        << "client " << i << ": " << o.status << " " << o.error << o.body;
    if (o.status == 503) {
      EXPECT_EQ(o.retry_after, "2");
    }
    // At worst a wait for a place (1 s), then a connect of its own (1 s).
    EXPECT_LT(o.ms, 3500) << "client " << i;
  }
  std::string m = timed_get(proxy.admin_port(), "/metrics", 5s).body;
  std::printf(
      "server not accepting, 4 places, 12 clients: at most %d connects pending (%d "
      "samples); 502: %d, 503: %d, 504: %d; slowest %lld ms; busy_total %lld; admin "
      "/healthz %lld ms, /metrics %lld ms\n",
      most.load(), samples.load(), by_status[502], by_status[503], by_status[504], slowest,
      metric_value(m, "plextap_upstream_busy_total"), health.second, metrics.second);
  EXPECT_LE(most.load(), 4);
  EXPECT_GE(most.load(), 1) << "no connect seen: the sampling missed them all";
  EXPECT_EQ(metric_value(m, "plextap_upstream_busy_total"), by_status[503]) << m;
  EXPECT_EQ(health.first, 200u);
  EXPECT_LT(health.second, 500);
  EXPECT_EQ(metrics.first, 200u);
  EXPECT_LT(metrics.second, 500);

  // Failed connects gave their places back: a fresh request tries to connect (and times
  // out) instead of waiting for a place that never comes.
  auto fresh = timed_get(proxy.http_port(), slow_target(99));
  std::printf("fresh request afterwards: %u in %lld ms\n", fresh.status, fresh.ms);
  EXPECT_TRUE(fresh.status == 502 || fresh.status == 504) << fresh.status << " " << fresh.body;
  EXPECT_LT(fresh.ms, 2500);
  if (HasFailure()) std::printf("---- plextap stderr ----\n%s\n", proxy.stderr_text().c_str());
}

// A refused connect gives its place back at once: nobody waits, nobody gets 503.
TEST(LimitsPendingConnects, RefusedConnectsGiveTheirPlacesBackAtOnce) {
  std::signal(SIGPIPE, SIG_IGN);
  DeadPort dead;
  constexpr int kClients = 8;
  PlextapProcess proxy(dead.port(), {"--threads", "1", "--upstream-max-connections", "2",
                                     "--connect-timeout", "2s"});
  auto outcomes = concurrent_gets(proxy.http_port(), kClients, slow_target);
  long long slowest = 0;
  for (int i = 0; i < kClients; ++i) {
    const auto& o = outcomes[static_cast<std::size_t>(i)];
    EXPECT_EQ(o.status, 502u) << "client " << i << ": " << o.error << o.body;
    slowest = std::max(slowest, o.ms);
  }
  std::string m = timed_get(proxy.admin_port(), "/metrics", 5s).body;
  std::printf("refusing server, 2 places, 8 clients: slowest 502 in %lld ms, busy_total %lld\n",
              slowest, metric_value(m, "plextap_upstream_busy_total"));
  EXPECT_LT(slowest, 1000);
  EXPECT_EQ(metric_value(m, "plextap_upstream_busy_total"), 0) << m;
  EXPECT_EQ(metric_value(m, "plextap_upstream_connections"), 0) << m;
}

// ---- --queue-bytes ----

std::string gzip(std::string_view in) {  // as the stand-in upstream compresses
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate failed");
  return out;
}

// A search answer of random titles that compresses to about `packed` bytes (kept under the
// 1 MiB body cap, so that each is recorded whole).
std::string big_search_answer(std::size_t packed) {
  std::mt19937 random(20240611);
  const char* hex = "0123456789abcdef";
  auto word = [&](std::size_t n) {
    std::string s(n, ' ');
    for (auto& ch : s) ch = hex[random() % 16];
    return s;
  };
  std::string rows;
  int count = 0;
  // Random hex packs to a little over half its size; the markup around it to nearly nothing.
  while (rows.size() < packed * 2) {
    rows += "<Video ratingKey=\"" + std::to_string(100000 + count) + "\" type=\"movie\" title=\"" +
            word(40) + "\" summary=\"" + word(120) + "\" year=\"1999\"/>\n";
    ++count;
  }
  return "<MediaContainer size=\"1\"><Hub hubIdentifier=\"movie\" type=\"movie\" size=\"" +
         std::to_string(count) + "\" more=\"0\">\n" + rows + "</Hub></MediaContainer>";
}

class LimitsQueueBytesTest : public ProxyTest {
 protected:
  fs::path data_dir() const { return proxy->dir() / "data"; }
  std::string metrics() { return admin_get("/metrics").body(); }

  // `clients` keep-alive clients fetch the canned search answer (`packed` on the wire)
  // for `load`, while the held bytes and /readyz are watched.
  struct Flood {
    std::vector<long long> latencies;  // ms, sorted
    int wrong = 0, failed = 0;
    long long most_held = -1;
    bool saw_degraded = false;
  };
  Flood flood(const std::string& packed, int kClients, std::chrono::milliseconds kLoad) {
    std::mutex mu;
    std::vector<long long> latencies;
    std::atomic<int> wrong{0}, failed{0};
    std::atomic<bool> loading{true};
    std::atomic<long long> most_held{-1};
    std::atomic<bool> saw_degraded{false};
    std::jthread watcher([&] {
      while (loading) {
        auto m = metrics();
        most_held = std::max(most_held.load(), metric_value(m, "plextap_record_held_bytes"));
        if (admin_get("/readyz").result_int() == 503) saw_degraded = true;
        std::this_thread::sleep_for(100ms);
      }
    });
    {
      std::latch go(kClients);
      std::vector<std::jthread> clients;
      for (int t = 0; t < kClients; ++t)
        clients.emplace_back([&, t] {
          auto c = http(10s);
          go.arrive_and_wait();
          const auto until = Clock::now() + kLoad;
          for (int i = 0; Clock::now() < until; ++i) {
            auto req = c->request(http::verb::get, "/hubs/search?query=flood-" + std::to_string(t) +
                                                       "-" + std::to_string(i) + "&limit=10");
            req.set(http::field::accept_encoding, "gzip");
            req.set("X-Plex-Client-Identifier", "client-flood-" + std::to_string(t));
            auto started = Clock::now();
            try {
              auto res = c->send(std::move(req));
              auto ms = ms_between(started, Clock::now());
              std::lock_guard lock(mu);
              latencies.push_back(ms);
              if (res.result_int() != 200 || res[http::field::content_encoding] != "gzip" ||
                  res.body() != packed)
                ++wrong;
            } catch (const std::exception&) {
              ++failed;
              c = http(10s);
            }
          }
        });
    }
    loading = false;
    watcher.join();
    std::sort(latencies.begin(), latencies.end());
    return {std::move(latencies), wrong.load(), failed.load(), most_held.load(),
            saw_degraded.load()};
  }
};

TEST_F(LimitsQueueBytesTest, FloodOfLargeCompressedAnswersCostsDropsNotMemoryOrLatency) {
  const std::string plain = big_search_answer(900 * 1024);
  const std::string packed = gzip(plain);
  ASSERT_LT(packed.size(), std::size_t{1} << 20) << "over the body cap: would be cut";
  ASSERT_GT(packed.size(), std::size_t{512} << 10);
  Canned canned;
  canned.content_type = "text/xml;charset=utf-8";
  canned.body = plain;
  upstream.answer("/hubs/search", canned);
  start({"--queue-bytes", "16M"});
  const long hwm_at_start = proxy->vm_hwm_kib();

  constexpr int kClients = 8;
  constexpr auto kLoad = 4s;
  auto f = flood(packed, kClients, kLoad);
  auto& latencies = f.latencies;
  const long hwm = proxy->vm_hwm_kib();
  const std::size_t total = latencies.size();
  ASSERT_GT(total, 0u);
  const long long p50 = latencies[total / 2], p99 = latencies[total * 99 / 100],
                  max = latencies.back();
  std::string m = metrics();
  const long long dropped = metric_value(m, "plextap_events_dropped_total{reason=\"queue_bytes\"}");
  std::printf(
      "flood: %zu answers of %zu bytes (gzip of %zu) by %d clients in %lld s = %zu MiB; "
      "latency p50 %lld ms, p99 %lld ms, max %lld ms; peak RSS %ld MiB (%ld MiB after "
      "start); most held %lld of %lld bytes; dropped (queue_bytes) %lld\n",
      total, packed.size(), plain.size(), kClients,
      static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(kLoad).count()),
      total * packed.size() >> 20, p50, p99, max, hwm >> 10, hwm_at_start >> 10, f.most_held,
      metric_value(m, "plextap_record_held_bytes_limit"), dropped);
  EXPECT_EQ(f.wrong, 0) << "answers changed under load";
  EXPECT_EQ(f.failed, 0);
  EXPECT_LT(max, 1000) << "forwarding waited for the recorder";
  // Held for the store: 16 MiB; built records of one commit group: at most 16 MiB more,
  // plus one decoded body (here ~1.8 MiB) and its parse; the binary and its buffers took
  // the rest at start. 200 MiB leaves room for allocator slack and stays far below what
  // the flood would take unbounded (the answers above, a multiple of it).
  EXPECT_GT(hwm, 0);
  if (kRssBoundsHold) {
    EXPECT_LT(hwm, 200L << 10) << "peak RSS " << (hwm >> 10) << " MiB";
  }
  EXPECT_EQ(metric_value(m, "plextap_record_held_bytes_limit"), 16LL << 20) << m;
  EXPECT_LE(f.most_held, 16LL << 20);
  EXPECT_GT(dropped, 0) << m;
  EXPECT_TRUE(f.saw_degraded);
  auto ready = admin_get("/readyz");
  EXPECT_EQ(ready.result_int(), 503);
  EXPECT_TRUE(contains(ready.body(), "degraded")) << ready.body();

  // Every request is accounted for once the writer is through: recorded or dropped.
  long long recorded = -1, queue_full = -1, held = -1;
  EXPECT_TRUE(wait_until(
      [&] {
        m = metrics();
        recorded = metric_value(m, "plextap_events_recorded_total");
        queue_full = metric_value(m, "plextap_events_dropped_total{reason=\"queue_full\"}");
        held = metric_value(m, "plextap_record_held_bytes");
        return held == 0 && recorded + queue_full + dropped == static_cast<long long>(total);
      },
      10s))
      << m;
  std::printf(
      "after the flood: recorded %lld, dropped queue_bytes %lld, queue_full %lld, held "
      "%lld\n",
      recorded, dropped, queue_full, held);
  EXPECT_GT(recorded, 0);

  // Recording resumes at once; /readyz keeps saying degraded for its 30 s after the drop
  // (there is no flag to shorten that window, so only its start is checked here).
  auto c = http();
  auto req = c->request(http::verb::get, "/hubs/search?query=after-the-flood&limit=10");
  req.set(http::field::accept_encoding, "gzip");
  req.set("X-Plex-Client-Identifier", "client-after");
  auto res = c->send(std::move(req));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), packed);
  bool found = wait_until(
      [&] {
        auto r = run_plextap({"export", "searches", "--data", data_dir().string()});
        if (r.exit_code != 0) return false;
        for (const auto& line : split_lines(r.out))
          if (contains(line, "\"after-the-flood\"")) return true;
        return false;
      },
      10s, 200ms);
  EXPECT_TRUE(found) << "the search after the flood was not recorded\n" << metrics();
  ready = admin_get("/readyz");
  EXPECT_EQ(ready.result_int(), 503) << "degraded for 30 s after the last drop";
  expect_still_serving();
}

// ---- usage errors ----

struct UsageCase {
  std::string flag, value, names;
};

TEST(LimitsUsage, NonsenseLimitsAreUsageErrors) {
  const std::vector<UsageCase> cases = {
      {"--queue-bytes", "0", "--queue-bytes"},
      {"--queue-bytes", "12X", "--queue-bytes"},
      {"--queue-bytes", "512K", "--queue-bytes"},  // under the 1M minimum
      {"--upstream-max-connections", "0", "--upstream-max-connections"},
      {"--upstream-max-connections", "-1", "--upstream-max-connections"},
  };
  for (const auto& u : cases) {
    SCOPED_TRACE(u.flag + " " + u.value);
    TempDir tmp;
    const fs::path data = tmp.path() / "data";
    auto r =
        run_plextap({"serve", "--upstream", "http://127.0.0.1:9", "--listen", "http://127.0.0.1:0",
                     "--admin", "127.0.0.1:0", "--data", data.string(), u.flag, u.value},
                    5s);
    std::printf("%s %s: exit %d, stderr: %s", u.flag.c_str(), u.value.c_str(), r.exit_code,
                r.err.c_str());
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(contains(r.err, u.names)) << "the line should name " << u.names << ": " << r.err;
    EXPECT_FALSE(fs::exists(data)) << "a usage error wrote the data directory";
  }
}

// With the defaults (--queue-bytes 256M), the same flood: the process stays under the
// 512 MiB DESIGN promises whatever the clients fetch, and forwarding is untouched.
TEST_F(LimitsQueueBytesTest, WithTheDefaultsTheProcessStaysUnder512MiB) {
  const std::string plain = big_search_answer(900 * 1024);
  const std::string packed = gzip(plain);
  Canned canned;
  canned.content_type = "text/xml;charset=utf-8";
  canned.body = plain;
  upstream.answer("/hubs/search", canned);
  start();
  auto f = flood(packed, 8, 5s);
  const long hwm = proxy->vm_hwm_kib();
  ASSERT_FALSE(f.latencies.empty());
  std::string m = metrics();
  std::printf(
      "flood with the defaults: %zu answers, max latency %lld ms, peak RSS %ld MiB, most held "
      "%lld bytes, dropped (queue_bytes) %lld\n",
      f.latencies.size(), f.latencies.back(), hwm >> 10, f.most_held,
      metric_value(m, "plextap_events_dropped_total{reason=\"queue_bytes\"}"));
  EXPECT_EQ(f.wrong, 0);
  EXPECT_EQ(f.failed, 0);
  EXPECT_LT(f.latencies.back(), 1000) << "forwarding waited for the recorder";
  EXPECT_EQ(metric_value(m, "plextap_record_held_bytes_limit"), 256LL << 20) << m;
  EXPECT_LE(f.most_held, 256LL << 20);
  EXPECT_GT(hwm, 0);
  if (kRssBoundsHold) {
    EXPECT_LT(hwm, 512L << 10) << "peak RSS " << (hwm >> 10) << " MiB";
  }
}

}  // namespace
}  // namespace plextap::itest
