// When the store or its surroundings fail (DESIGN section 9), through the real binary: a
// damaged data file is one line and exit 1 for export and stats, never a crash; the drop
// count stays exact through a full disk; bad store sizes are usage errors; a data
// directory that cannot be made leaves serve forwarding, degraded; a reader without write
// access is told what it lacks; the admin listener waits out a lack of descriptors.
// Long on purpose: one test per way the store can fail, each standing alone.
#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <random>
#include <thread>

#include "tests/integration/fault_support.hpp"
#include "tests/integration/fixture.hpp"
#include "tests/integration/recording_support.hpp"
#include "tests/integration/tls_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Canned = StandInUpstream::Canned;

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// A search answer with a marker only the raw exchange keeps (the event records the
// parsed fields, not the server's attributes).
constexpr std::string_view kExchangeMarker = "exchange-only-marker-5f3a";

Canned search_answer(std::size_t padding = 0) {
  Canned c;
  c.content_type = "text/xml;charset=utf-8";
  c.body = "<MediaContainer size=\"1\" identifier=\"" + std::string(kExchangeMarker) +
           "\"><Hub hubIdentifier=\"movie\" type=\"movie\" size=\"1\" more=\"0\"><Video "
           "ratingKey=\"4242\" type=\"movie\" title=\"Padding " +
           std::string(padding, 'p') + "\"/></Hub></MediaContainer>";
  return c;
}

class StoreFaultTest : public ProxyTest {
 protected:
  fs::path data_dir() const { return proxy->dir() / "data"; }

  // Searches and timeline updates through the proxy, until export has them all; then
  // serve is stopped, so that the store's files are what it left.
  void record_and_stop(int searches, int timelines) {
    upstream.answer("/hubs/search", search_answer());
    Canned timeline;
    timeline.content_type = "text/xml;charset=utf-8";
    timeline.body = "<MediaContainer size=\"0\"/>";
    upstream.answer("/:/timeline", timeline);
    start();
    auto c = http();
    for (int i = 0; i < searches; ++i) {
      auto req = c->request(http::verb::get, "/hubs/search?query=needle-" + std::to_string(i));
      req.set("X-Plex-Client-Identifier", "client-store-fault");
      ASSERT_EQ(c->send(std::move(req)).result_int(), 200);
    }
    for (int i = 0; i < timelines; ++i) {
      auto req = c->request(http::verb::post, "/:/timeline?ratingKey=4242&state=playing&time=" +
                                                  std::to_string(i * 1000));
      req.set("X-Plex-Client-Identifier", "client-store-fault");
      ASSERT_EQ(c->send(std::move(req)).result_int(), 200);
    }
    ASSERT_TRUE(wait_until(
        [&] {
          auto r = run_plextap({"export", "events", "--data", data_dir().string()});
          return r.exit_code == 0 && lines(r.out) == static_cast<std::size_t>(searches + timelines);
        },
        10s, 50ms));
    proxy->signal(SIGTERM);
    auto code = proxy->wait_exit(10s);
    ASSERT_TRUE(code);
    ASSERT_EQ(*code, 0);
  }
};

// The commands that read the store, and what each printed from the intact store.
struct Reading {
  std::vector<std::string> args;
  std::string intact;
};

std::vector<Reading> readings(const fs::path& data) {
  std::vector<Reading> all;
  for (std::vector<std::string> args : {std::vector<std::string>{"export", "events"},
                                        {"export", "searches"},
                                        {"export", "har"},
                                        {"export", "plays"},
                                        {"export", "timeline", "--format", "csv"},
                                        {"stats"}}) {
    args.push_back("--data");
    auto with_dir = args;
    with_dir.push_back(data.string());
    auto r = run_plextap(with_dir);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    all.push_back({args, r.out});
  }
  return all;
}

// Runs `reading` on `data`: never a crash; exit 0 with what the intact store gave, or exit
// 1 with one line. Returns the exit code.
int check_reading(const Reading& reading, const fs::path& data, const std::string& damage) {
  auto args = reading.args;
  args.push_back(data.string());
  auto r = run_plextap(args);
  std::string what = damage + ", plextap";
  for (const auto& a : reading.args) what += " " + a;
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << what << ": exit " << r.exit_code;
  if (r.exit_code == 1) {
    EXPECT_EQ(lines(r.err), 1u) << what << ":\n" << r.err;
    EXPECT_TRUE(contains(r.err, "damaged")) << what << ": " << r.err;
  } else if (r.exit_code == 0) {
    // `stats` names the directory it read; the rest must be what the intact store gave.
    std::string out = r.out, intact = reading.intact;
    if (reading.args[0] == "stats") {
      out = out.substr(out.find('\n'));
      intact = intact.substr(intact.find('\n'));
    }
    EXPECT_EQ(out, intact) << what << ": other data, and exit 0";
  }
  return r.exit_code;
}

void overwrite(const fs::path& file, std::uint64_t at, const std::string& bytes) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(at));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST_F(StoreFaultTest, DamagedStoreIsOneLineAndExit1NeverACrash) {
  ASSERT_NO_FATAL_FAILURE(record_and_stop(40, 40));
  const fs::path good = data_dir();
  const auto all = readings(good);
  ASSERT_FALSE(HasFailure());
  const fs::path bad = proxy->dir() / "damaged";
  auto damaged_copy = [&] {
    fs::remove_all(bad);
    fs::copy(good, bad, fs::copy_options::recursive);
    return bad / "store" / "data.mdb";
  };
  const std::string data = read_file(good / "store" / "data.mdb");

  // Bytes inside one event's JSON: the events' readers fail on it, and so does stats.
  // Every copy is hit: LMDB leaves older versions of rewritten pages in the file, and
  // which copy is the live one depends on how the group commits fell.
  {
    auto file = damaged_copy();
    std::size_t hits = 0;  // every copy, as for the exchanges below
    for (auto at = data.find("needle-17\""); at != std::string::npos;
         at = data.find("needle-17\"", at + 1), ++hits)
      overwrite(file, at, "NEEDLE");
    ASSERT_GT(hits, 0u);
    for (const auto& reading : all) {
      int code = check_reading(reading, bad, "an event's JSON changed");
      // (Plays and timelines do not read search events through the index of kinds.)
      if (reading.args[1] == "events" || reading.args[1] == "searches" ||
          reading.args[0] == "stats") {
        EXPECT_EQ(code, 1) << "missed: plextap " << reading.args[0] << " " << reading.args[1];
      }
    }
  }
  // Bytes inside the raw exchanges: HAR export and stats fail; event exports are intact.
  {
    auto file = damaged_copy();
    std::size_t hits = 0;
    for (auto at = data.find(kExchangeMarker); at != std::string::npos;
         at = data.find(kExchangeMarker, at + 1), ++hits)
      overwrite(file, at, "#");
    ASSERT_GT(hits, 0u);
    for (const auto& reading : all) {
      int code = check_reading(reading, bad, "an exchange changed");
      if (reading.args[1] == "har" || reading.args[0] == "stats") {
        EXPECT_EQ(code, 1) << "missed: plextap " << reading.args[0] << " " << reading.args[1];
      } else if (reading.args[1] == "events") {
        EXPECT_EQ(code, 0) << "an exchange's damage failed an export of events";
      }
    }
  }
  // Whole pages of garbage or zeros, and garbage in page headers, anywhere after the two
  // meta pages (whose damage LMDB finds itself).
  std::mt19937 rng(7);
  auto garbage = [&](std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
  };
  constexpr std::size_t kPage = 4096;
  const std::size_t pages = data.size() / kPage;
  int failed = 0, runs = 0;
  for (std::size_t page = 0; page < pages; ++page) {
    for (int how = 0; how < 3; ++how) {
      auto file = damaged_copy();
      const std::string bytes = how == 0   ? garbage(kPage)
                                : how == 1 ? std::string(kPage, '\0')
                                           : garbage(16);
      overwrite(file, page * kPage, bytes);
      const std::string damage = std::string(how == 0   ? "random page "
                                             : how == 1 ? "zeroed page "
                                                        : "random page header ") +
                                 std::to_string(page);
      for (const auto& reading : {all[0], all[2], all.back()}) {
        ++runs;
        failed += check_reading(reading, bad, damage) == 1;
      }
      if (HasFailure()) return;
    }
  }
  // Most pages hold records: the damage must have been found, not only survived.
  EXPECT_GT(failed, runs / 2) << failed << " of " << runs << " runs found the damage";

  // A file cut short: every reader says so.
  {
    auto file = damaged_copy();
    fs::resize_file(file, data.size() / 2);
    for (const auto& reading : all) {
      EXPECT_EQ(check_reading(reading, bad, "cut in half"), 1);
      auto args = reading.args;
      args.push_back(bad.string());
      EXPECT_TRUE(contains(run_plextap(args).err, "cut short"));
    }
  }
}

// Section 9: the drop count is exact after the disk filled up, also when serve stops while
// it is still full, and across runs. (It used to be lost: saving it needed disk space.)
TEST_F(StoreFaultTest, DropCountStaysExactThroughAFullDisk) {
  TempDir tmp;
  SmallDisk disk(tmp.path() / "disk", "size=2m");
  if (!disk.why_not().empty()) GTEST_SKIP() << disk.why_not();
  const fs::path data = tmp.path() / "disk" / "data";
  upstream.answer("/hubs/search", search_answer(60 * 1024));
  const std::string upstream_url = "http://127.0.0.1:" + std::to_string(upstream.port());

  struct Counts {
    long long recorded = 0, dropped = 0;
  };
  // One run of serve: `requests` searches, the counters once all of them are accounted
  // for (recorded or dropped), and a SIGTERM. With `between`, that runs once the first
  // half is accounted for, and the second half follows.
  int sent = 0;
  auto run = [&](int requests, const std::function<void()>& between) -> Counts {
    Child serve({"serve", "--listen", "http://127.0.0.1:0", "--admin", "127.0.0.1:0", "--upstream",
                 upstream_url, "--data", data.string(), "--threads", "1", "--no-enrich",
                 "--body-cap", "65536"});
    EXPECT_TRUE(serve.wait_err([](const std::string& e) { return contains(e, "admin on"); }, 10s))
        << serve.err();
    const std::string err = serve.err();
    const auto port = port_after(err, "listening on http://127.0.0.1:");
    const auto admin = port_after(err, "admin on http://127.0.0.1:");
    auto c = HttpClient::plain(port, 10s);
    Counts counts;
    auto send_and_settle = [&](int n, int total) {
      for (int i = 0; i < n; ++i, ++sent) {
        auto res =
            c->send(c->request(http::verb::get, "/hubs/search?query=q" + std::to_string(sent)));
        EXPECT_EQ(res.result_int(), 200) << "forwarding failed with the disk full";
      }
      std::string m;
      EXPECT_TRUE(wait_until(
          [&] {
            auto a = HttpClient::plain(admin, 10s);
            m = a->send(a->request(http::verb::get, "/metrics")).body();
            counts.recorded = metric_value(m, "plextap_events_recorded_total");
            counts.dropped =
                metric_value(m, "plextap_events_dropped_total{reason=\"store_error\"}") +
                metric_value(m, "plextap_events_dropped_total{reason=\"queue_full\"}");
            return counts.recorded + counts.dropped == total;
          },
          10s, 50ms))
          << m;
    };
    if (between) {
      send_and_settle(requests / 2, requests / 2);
      between();
      send_and_settle(requests - requests / 2, requests);
    } else {
      send_and_settle(requests, requests);
    }
    serve.signal(SIGTERM);
    auto code = serve.wait_exit(10s);
    EXPECT_TRUE(code && *code == 0) << serve.err();
    return counts;
  };
  auto stats_dropped = [&] {
    auto r = run_plextap({"stats", "--data", data.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto at = r.out.find("\ndropped");
    return at == std::string::npos ? -1 : std::atoll(r.out.c_str() + at + 8);
  };

  // Enough 60 KiB answers to fill 2 MiB, and serve stops while the disk is still full.
  Counts first = run(60, {});
  EXPECT_GT(first.dropped, 0) << "the disk never filled up";
  EXPECT_EQ(stats_dropped(), first.dropped);
  // Again on the full disk; halfway through, the disk gets room again.
  Counts second = run(40, [&] { ASSERT_TRUE(disk.resize("64m")); });
  EXPECT_GT(second.dropped, 0) << "the store had room from the start";
  EXPECT_GT(second.recorded, 0) << "recording did not resume once the disk had room";
  EXPECT_EQ(stats_dropped(), first.dropped + second.dropped);
  auto exported = run_plextap({"export", "events", "--data", data.string()});
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(static_cast<long long>(lines(exported.out)), first.recorded + second.recorded);
}

TEST(StoreSizeTest, BadStoreMaxSizeIsAUsageErrorInOneLine) {
  // 1.5G is a size now (README "Sizes and durations"); a fraction of a byte is not.
  for (const std::string size : {"0", "-1", "12X", "99999999999G", "", "512K", " 5G", "1.5"}) {
    auto r = run_plextap({"serve", "--listen", "http://127.0.0.1:0", "--admin", "127.0.0.1:0",
                          "--record", "tapped", "--store-max-size", size},
                         5s);
    EXPECT_EQ(r.exit_code, 2) << "'" << size << "': " << r.err;
    EXPECT_EQ(lines(r.err), 1u) << "'" << size << "': " << r.err;
    EXPECT_TRUE(contains(r.err, "--store-max-size '" + size + "'")) << r.err;
    EXPECT_FALSE(contains(r.err, "listening")) << "started with '" << size << "'";
  }
}

// README "The store": a data directory that cannot be made leaves serve forwarding, with
// recording off and /readyz degraded; only an https listener without a certificate is
// left out (a certificate is what it cannot do without).
TEST_F(StoreFaultTest, DataDirectoryThatCannotBeMadeLeavesForwardingDegraded) {
  TempDir tmp;
  const fs::path file = tmp.path() / "a-file";
  std::ofstream(file) << "not a directory\n";
  const fs::path data = file / "data";
  const std::string upstream_url = "http://127.0.0.1:" + std::to_string(upstream.port());
  upstream.answer("/hubs/search", search_answer());

  // Checks a serve that runs degraded: it forwards on `port`, /readyz says degraded.
  auto expect_degraded = [&](Child& serve, std::uint16_t port, std::uint16_t admin) {
    auto c = HttpClient::plain(port, 10s);
    auto res = c->send(c->request(http::verb::get, "/hubs/search?query=x"));
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), search_answer().body);
    auto a = HttpClient::plain(admin, 10s);
    auto ready = a->send(a->request(http::verb::get, "/readyz"));
    EXPECT_EQ(ready.result_int(), 503);
    EXPECT_TRUE(contains(ready.body(), "degraded")) << ready.body();
    EXPECT_TRUE(contains(serve.err(), "recording disabled")) << serve.err();
    serve.signal(SIGTERM);
    auto code = serve.wait_exit(10s);
    EXPECT_TRUE(code && *code == 0) << serve.err();
  };

  {  // http and https listeners, no certificate: http forwards, https is refused
    Child serve({"serve", "--listen", "https://127.0.0.1:0", "--listen", "http://127.0.0.1:0",
                 "--admin", "127.0.0.1:0", "--upstream", upstream_url, "--data", data.string()});
    ASSERT_TRUE(serve.wait_err([](const std::string& e) { return contains(e, "admin on"); }, 10s))
        << serve.err();
    const std::string err = serve.err();
    EXPECT_FALSE(contains(err, "listening on https://")) << err;
    EXPECT_TRUE(contains(err, "https:// listeners not started: no certificate")) << err;
    expect_degraded(serve, port_after(err, "listening on http://127.0.0.1:"),
                    port_after(err, "admin on http://127.0.0.1:"));
  }
  {  // with a certificate given, both listeners run
    make_self_signed(tmp.path() / "cert.pem", tmp.path() / "key.pem", 30);
    Child serve({"serve", "--listen", "https://127.0.0.1:0", "--listen", "http://127.0.0.1:0",
                 "--admin", "127.0.0.1:0", "--upstream", upstream_url, "--data", data.string(),
                 "--tls-cert", (tmp.path() / "cert.pem").string(), "--tls-key",
                 (tmp.path() / "key.pem").string()});
    ASSERT_TRUE(serve.wait_err([](const std::string& e) { return contains(e, "admin on"); }, 10s))
        << serve.err();
    const std::string err = serve.err();
    auto tls = HttpClient::tls(port_after(err, "listening on https://127.0.0.1:"),
                               tmp.path() / "cert.pem", 10s);
    EXPECT_EQ(tls->send(tls->request(http::verb::get, "/hubs/search?query=y")).result_int(), 200);
    expect_degraded(serve, port_after(err, "listening on http://127.0.0.1:"),
                    port_after(err, "admin on http://127.0.0.1:"));
  }
  {  // nothing but https listeners and no certificate: nothing could forward, so exit 1
    auto r = run_plextap({"serve", "--listen", "https://127.0.0.1:0", "--admin", "127.0.0.1:0",
                          "--upstream", upstream_url, "--data", data.string()});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_TRUE(contains(r.err, "no certificate for the https:// listeners")) << r.err;
    EXPECT_TRUE(contains(r.err, "--tls-cert")) << r.err;
  }
}

TEST_F(StoreFaultTest, DataDirectoryOnAReadOnlyFileSystemLeavesForwardingDegraded) {
  TempDir tmp;
  SmallDisk disk(tmp.path() / "ro", "size=1m,ro");
  if (!disk.why_not().empty()) GTEST_SKIP() << disk.why_not();
  Child serve({"serve", "--listen", "http://127.0.0.1:0", "--admin", "127.0.0.1:0", "--upstream",
               "http://127.0.0.1:" + std::to_string(upstream.port()), "--data",
               (tmp.path() / "ro" / "data").string()});
  ASSERT_TRUE(serve.wait_err([](const std::string& e) { return contains(e, "admin on"); }, 10s))
      << serve.err();
  const std::string err = serve.err();
  EXPECT_TRUE(contains(err, "Read-only file system")) << err;
  auto c = HttpClient::plain(port_after(err, "listening on http://127.0.0.1:"), 10s);
  EXPECT_EQ(c->send(c->request(http::verb::get, "/small")).result_int(), 200);
  auto a = HttpClient::plain(port_after(err, "admin on http://127.0.0.1:"), 10s);
  auto ready = a->send(a->request(http::verb::get, "/readyz"));
  EXPECT_EQ(ready.result_int(), 503);
  EXPECT_TRUE(contains(ready.body(), "degraded")) << ready.body();
}

// Reading needs LMDB's lock file to be writable; a user who may only read the store is
// told that, in one line, instead of LMDB's bare "Permission denied".
TEST_F(StoreFaultTest, ReaderWhoMayNotWriteTheLockFileIsToldSo) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run plextap as another user";
  const passwd* nobody = ::getpwnam("nobody");
  if (!nobody) GTEST_SKIP() << "no user 'nobody'";
  ASSERT_NO_FATAL_FAILURE(record_and_stop(3, 3));
  const fs::path store = data_dir() / "store";
  // Readable by everyone, writable by the owner (root) only.
  for (const auto& dir : {proxy->dir(), data_dir(), store}) fs::permissions(dir, fs::perms(0755));
  for (const auto& entry : fs::directory_iterator(store))
    fs::permissions(entry.path(), fs::perms(0644));
  for (std::vector<std::string> args :
       {std::vector<std::string>{"export", "events"}, {"export", "har"}, {"stats"}}) {
    args.push_back("--data");
    args.push_back(data_dir().string());
    Forked reader(args, {nobody->pw_uid, std::nullopt});
    auto code = reader.wait_exit(10s);
    ASSERT_TRUE(code);
    const std::string err = reader.err();
    EXPECT_EQ(*code, 1) << err;
    EXPECT_EQ(lines(err), 1u) << err;
    EXPECT_TRUE(contains(err, (store / "lock.mdb").string())) << err;
    EXPECT_TRUE(contains(err, "this user (nobody)")) << err;
    EXPECT_TRUE(contains(err, "owned by root")) << err;
    EXPECT_TRUE(reader.out().empty());
  }
  // The store directory itself closed to others: that is what is said.
  fs::permissions(store, fs::perms(0700));
  Forked reader({"stats", "--data", data_dir().string()}, {nobody->pw_uid, std::nullopt});
  ASSERT_TRUE(reader.wait_exit(10s));
  EXPECT_TRUE(contains(reader.err(), "may not enter the store directory")) << reader.err();
}

// Out of descriptors, the admin listener waits and tries again, as the main listeners do,
// instead of spinning on a core; it answers again once descriptors are free.
TEST_F(StoreFaultTest, AdminListenerWaitsOutALackOfDescriptors) {
  constexpr rlim_t kLimit = 64;
  TempDir tmp;
  Forked serve({"serve", "--listen", "http://127.0.0.1:0", "--admin", "127.0.0.1:0", "--upstream",
                "http://127.0.0.1:" + std::to_string(upstream.port()), "--data",
                (tmp.path() / "data").string(), "--threads", "2"},
               {std::nullopt, kLimit});
  ASSERT_TRUE(wait_until([&] { return contains(serve.err(), "admin on"); }, 10s)) << serve.err();
  const std::string err = serve.err();
  const auto port = port_after(err, "listening on http://127.0.0.1:");
  const auto admin = port_after(err, "admin on http://127.0.0.1:");
  {
    auto a = HttpClient::plain(admin, 10s);
    ASSERT_EQ(a->send(a->request(http::verb::get, "/healthz")).result_int(), 200);
  }

  // Client connections until plextap has no descriptor left (the rest wait in the backlog).
  std::vector<std::unique_ptr<RawConnection>> clients;
  for (rlim_t i = 0; i < kLimit + 16; ++i) clients.push_back(std::make_unique<RawConnection>(port));
  ASSERT_TRUE(wait_until([&] { return open_fds(serve.pid()) >= static_cast<int>(kLimit); }, 5s))
      << open_fds(serve.pid()) << " descriptors open";
  RawConnection waiting(admin);
  ASSERT_TRUE(waiting.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::this_thread::sleep_for(300ms);

  const double before = cpu_seconds(serve.pid());
  std::this_thread::sleep_for(1s);
  const double used = cpu_seconds(serve.pid()) - before;
  RecordProperty("cpu_seconds_out_of_descriptors", std::to_string(used));
  EXPECT_LT(used, 0.1) << "plextap used " << used << " s of CPU in 1 s, out of descriptors";

  clients.clear();  // plextap closes its ends, and has descriptors again
  auto got = waiting.read_until_close(10s);
  EXPECT_TRUE(got.data.starts_with("HTTP/1.1 200")) << got.data;
  EXPECT_TRUE(contains(got.data, "ok")) << got.data;
  ::kill(serve.pid(), SIGTERM);
  auto code = serve.wait_exit(15s);
  EXPECT_TRUE(code && *code == 0) << serve.err();
}

}  // namespace
}  // namespace plextap::itest
