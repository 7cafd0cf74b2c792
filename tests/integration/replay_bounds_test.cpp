// replay serve against recordings it must not trust (README "Replay", "When things go
// wrong"): header fields that would inject a field or a second response, and compressed
// bodies that decode to far more than is on disk.
#include <zlib.h>

#include <fstream>

#include "tests/integration/fixture.hpp"
#include "tests/integration/raw_upstream.hpp"
#include "tests/integration/recording_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

long vm_hwm_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmHWM:")) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

// `plextap replay serve ARGS` on a plain listener and an admin port.
struct StandInProcess {
  explicit StandInProcess(std::vector<std::string> args) {
    std::vector<std::string> all{"replay",  "serve",       "--listen",  "http://127.0.0.1:0",
                                 "--admin", "127.0.0.1:0", "--threads", "2"};
    all.insert(all.end(), args.begin(), args.end());
    child = std::make_unique<Child>(all);
    if (!child->wait_err([](const std::string& e) { return contains(e, "admin on http://"); }, 20s))
      throw std::runtime_error("replay serve did not start:\n" + child->err());
    port = port_after(child->err(), "listening on http://127.0.0.1:");
    admin = port_after(child->err(), "admin on http://127.0.0.1:");
  }
  std::string metrics() const {
    auto c = HttpClient::plain(admin, 10s);
    return c->send(c->request(http::verb::get, "/metrics")).body();
  }
  // Everything the stand-in sends back for `request`, read with a raw socket.
  std::string raw(const std::string& request) const {
    RawConnection c(port);
    EXPECT_TRUE(c.send(request));
    auto got = c.read_until_close(10s);
    EXPECT_TRUE(got.closed) << escape_bytes(got.data);
    return got.data;
  }

  std::unique_ptr<Child> child;
  std::uint16_t port = 0, admin = 0;
};

// A HAR whose answer to GET /a holds fields that are not HTTP, written as JSON escapes the
// way any tool writing a HAR would.
constexpr std::string_view kPoisonedHar = R"({"log":{"version":"1.2","entries":[
 {"startedDateTime":"2026-11-24T20:00:00.000Z","time":1,
  "request":{"method":"GET","url":"http://plex/a","headers":[]},
  "response":{"status":200,"headers":[
    {"name":"Content-Type","value":"text/plain"},
    {"name":"X-Split","value":"a\r\nX-Injected: split"},
    {"name":"X-Second","value":"b\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Injected: second\r\n\r\nforged"},
    {"name":"X-Lf","value":"c\nX-Injected: lf"},
    {"name":"X-Cr","value":"d\rX-Injected: cr"},
    {"name":"X-Nul","value":"e\u0000X-Injected: nul"},
    {"name":"X Space","value":"f"},
    {"name":"X-Injected: colon","value":"g"},
    {"name":"X-Kept","value":"yes"}],
   "content":{"text":"hello"}}}]}})";
constexpr int kPoisonedFields = 7;

TEST(ReplayUntrusted, RecordedFieldsThatAreNotHttpAreLeftOutAndCounted) {
  TempDir dir;
  const fs::path har = dir.path() / "poisoned.har";
  std::ofstream(har) << kPoisonedHar;
  StandInProcess stand_in({"--har", har.string()});

  auto one = stand_in.raw("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  SCOPED_TRACE(escape_bytes(one));
  EXPECT_TRUE(one.starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(count(one, "HTTP/1.1"), 1u) << "a second response";
  EXPECT_FALSE(contains(one, "X-Injected"));
  EXPECT_FALSE(contains(one, "forged"));
  EXPECT_FALSE(contains(one, std::string_view("\0", 1)));
  EXPECT_TRUE(contains(one, "\r\nX-Kept: yes\r\n"));
  EXPECT_TRUE(contains(one, "\r\nContent-Type: text/plain\r\n"));
  EXPECT_TRUE(contains(one, "\r\nContent-Length: 5\r\n"));
  // One head, then exactly the recorded body.
  auto end = one.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  EXPECT_EQ(one.substr(end + 4), "hello");
  for (std::string_view line : split_lines(one.substr(0, end))) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    EXPECT_FALSE(contains(line, "\r") || contains(line, "\n")) << line;
  }

  // Two requests on one connection: two answers, each framed as the session says.
  auto two = stand_in.raw(
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(count(two, "HTTP/1.1 200 OK\r\n"), 2u) << escape_bytes(two);
  EXPECT_EQ(count(two, "HTTP/1.1"), 2u) << escape_bytes(two);
  EXPECT_TRUE(two.ends_with("\r\n\r\nhello")) << escape_bytes(two);

  EXPECT_EQ(metric_value(stand_in.metrics(), "plextap_replay_invalid_headers_total"),
            kPoisonedFields);
  EXPECT_TRUE(contains(stand_in.child->err(),
                       "left out " + std::to_string(kPoisonedFields) + " recorded header fields"))
      << stand_in.child->err();
}

// replay send re-issues recorded requests: a recorded field or target that is not valid
// HTTP must not reach the target as a field, or as a request, of its own.
TEST(ReplayUntrusted, SendLeavesOutRecordedRequestFieldsThatAreNotHttp) {
  TempDir dir;
  const fs::path har = dir.path() / "requests.har";
  std::ofstream(har) << R"({"log":{"version":"1.2","entries":[
   {"startedDateTime":"2026-11-24T20:00:00.000Z","time":1,
    "request":{"method":"GET","url":"http://plex/identity","headers":[
      {"name":"X-Kept","value":"yes"},
      {"name":"X-Split","value":"a\r\nX-Injected: split"},
      {"name":"X-Nul","value":"b\u0000X-Injected: nul"},
      {"name":"X Space","value":"c"}]},
    "response":{"status":200,"headers":[],"content":{"text":"ok"}}},
   {"startedDateTime":"2026-11-24T20:00:01.000Z","time":1,
    "request":{"method":"GET","url":"http://plex/identity HTTP/1.1\r\nHost: x\r\n\r\nGET /smuggled","headers":[]},
    "response":{"status":200,"headers":[],"content":{"text":"ok"}}}]}})";
  RawUpstream target;
  auto r = run_plextap({"replay", "send", "--har", har.string(), "--target",
                        "http://127.0.0.1:" + std::to_string(target.port()), "--speed", "max"},
                       20s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(target.wait_requests(1, 5s)) << target.describe();
  auto got = target.requests();
  ASSERT_EQ(got.size(), 1u) << target.describe();
  EXPECT_EQ(got[0].target, "/identity");
  EXPECT_EQ(got[0].header("X-Kept"), "yes");
  EXPECT_FALSE(contains(got[0].raw, "X-Injected")) << escape_bytes(got[0].raw);
  EXPECT_FALSE(contains(got[0].raw, "X Space")) << escape_bytes(got[0].raw);
  EXPECT_FALSE(contains(got[0].raw, std::string_view("\0", 1))) << escape_bytes(got[0].raw);
  EXPECT_EQ(target.count("/smuggled"), 0u);
}

// gzip of `n` zero bytes, compressed piece by piece (no 200 MiB buffer in the test).
std::string gzip_of_zeros(std::size_t n) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  static const std::string zeros(1 << 20, '\0');
  std::string out;
  char buf[1 << 16];
  for (std::size_t left = n;;) {
    auto piece = std::min(left, zeros.size());
    left -= piece;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    z.avail_in = static_cast<uInt>(piece);
    const int flush = left ? Z_NO_FLUSH : Z_FINISH;
    int ret;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      ret = deflate(&z, flush);
      out.append(buf, sizeof buf - z.avail_out);
    } while (z.avail_out == 0);
    if (ret == Z_STREAM_END) break;
  }
  deflateEnd(&z);
  return out;
}

// Five answers of 6 MiB each once decoded, recorded through serve as the server sent
// them (some 6 KiB each, well under --body-cap), then replayed from the store: they are
// stored compressed, as recorded (the recorder could read them whole), and decoded per
// request, within the bound, for a client that does not accept gzip.
TEST(ReplayUntrusted, CompressedBodiesStayCompressedUntilAskedAndDecodeBounded) {
  constexpr int kBombs = 5;
  constexpr std::size_t kDecoded = std::size_t{6} << 20;
  static const std::string bomb = gzip_of_zeros(kDecoded);
  ASSERT_LT(bomb.size(), std::size_t{1} << 20) << "must fit the recorder's default body cap";

  RawUpstream upstream;
  upstream.script([](const ParsedRequest&, std::uint64_t, std::size_t) {
    return RawUpstream::Action::send(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Encoding: gzip\r\n"
        "Content-Length: " +
        std::to_string(bomb.size()) + "\r\n\r\n" + bomb);
  });
  PlextapProcess serve(upstream.port(), {"--record", "all", "--no-enrich"});
  const fs::path data = serve.dir() / "data";
  {
    auto c = HttpClient::plain(serve.http_port());
    for (int i = 0; i < kBombs; ++i) {
      auto req = c->request(http::verb::get, "/library/bomb/" + std::to_string(i));
      req.set(http::field::accept_encoding, "gzip");
      auto res = c->send(std::move(req));
      ASSERT_EQ(res.result_int(), 200);
      ASSERT_EQ(res.body(), bomb);
    }
  }
  ASSERT_TRUE(wait_until(
      [&] {
        return contains(run_plextap({"stats", "--data", data.string()}).out,
                        "events      " + std::to_string(kBombs));
      },
      15s));
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait_exit(15s), 0);

  StandInProcess stand_in({"--data", data.string()});
  const long started_kib = vm_hwm_kib(stand_in.child->pid());
  EXPECT_GT(started_kib, 0);
  if (kRssBoundsHold) {
    EXPECT_LT(started_kib, 100 * 1024) << "peak RSS at start, KiB";
  }

  auto c = HttpClient::plain(stand_in.port);
  for (int i = 0; i < kBombs; ++i) {
    SCOPED_TRACE(i);
    const std::string target = "/library/bomb/" + std::to_string(i);
    auto req = c->request(http::verb::get, target);
    req.set(http::field::accept_encoding, "gzip, deflate");
    auto as_recorded = c->send(std::move(req));
    EXPECT_EQ(as_recorded.result_int(), 200);
    EXPECT_EQ(as_recorded[http::field::content_encoding], "gzip");
    EXPECT_TRUE(as_recorded.body() == bomb) << "the recorded bytes, " << as_recorded.body().size();

    auto decoded = c->send(c->request(http::verb::get, target));
    EXPECT_EQ(decoded.result_int(), 200);
    EXPECT_EQ(decoded[http::field::content_encoding], "");
    EXPECT_EQ(decoded.body().size(), kDecoded);
    EXPECT_EQ(decoded.body().find_first_not_of('\0'), std::string::npos);
  }
  const long served_kib = vm_hwm_kib(stand_in.child->pid());
  if (kRssBoundsHold) {
    EXPECT_LT(served_kib, 100 * 1024) << "peak RSS after serving, KiB";
  }
  auto metrics = stand_in.metrics();
  EXPECT_EQ(metric_value(metrics, "plextap_replay_decoded_total{result=\"ok\"}"), kBombs)
      << metrics;
  std::printf("replay serve peak RSS: %ld KiB at start, %ld KiB after %d decoded answers\n",
              started_kib, served_kib, kBombs);
}

// A body the recorder cannot read whole (200 MiB once decoded, past its decoding bound)
// could hide a token past what was read, so it is not stored as sent: only the part that
// was read and checked, cut to a megabyte and marked truncated. Neither the store nor
// replay serve grows with what the bomb would inflate to.
TEST(ReplayUntrusted, ABombIsStoredAsTheCheckedPartOnly) {
  static const std::string bomb = gzip_of_zeros(std::size_t{200} << 20);
  RawUpstream upstream;
  upstream.script([](const ParsedRequest&, std::uint64_t, std::size_t) {
    return RawUpstream::Action::send(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Encoding: gzip\r\n"
        "Content-Length: " +
        std::to_string(bomb.size()) + "\r\n\r\n" + bomb);
  });
  PlextapProcess serve(upstream.port(), {"--record", "all", "--no-enrich"});
  const fs::path data = serve.dir() / "data";
  {
    auto c = HttpClient::plain(serve.http_port());
    auto req = c->request(http::verb::get, "/library/bomb");
    req.set(http::field::accept_encoding, "gzip");
    auto res = c->send(std::move(req));
    ASSERT_EQ(res.body(), bomb) << "forwarded as the server sent it";
  }
  ASSERT_TRUE(wait_until(
      [&] {
        return contains(run_plextap({"stats", "--data", data.string()}).out, "events      1");
      },
      15s));
  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait_exit(15s), 0);

  StandInProcess stand_in({"--data", data.string()});
  auto c = HttpClient::plain(stand_in.port);
  auto req = c->request(http::verb::get, "/library/bomb");
  req.set(http::field::accept_encoding, "gzip");
  auto res = c->send(std::move(req));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_encoding], "");
  EXPECT_EQ(res.body().size(), std::size_t{1} << 20);
  EXPECT_EQ(res.body().find_first_not_of('\0'), std::string::npos);
  if (kRssBoundsHold) {
    EXPECT_LT(vm_hwm_kib(stand_in.child->pid()), 100 * 1024) << "peak RSS, KiB";
  }
}

}  // namespace
}  // namespace plextap::itest
