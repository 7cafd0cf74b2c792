// `serve` under systemd, seen from outside: the notify socket hears READY=1 once the
// listeners answer and STOPPING=1 when SIGTERM starts the drain (which still lets a request
// in flight finish); with JOURNAL_STREAM set the process log carries journald priorities
// and no timestamps of its own; /metrics has the process_* and build-info lines.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <sstream>

#include "tests/integration/fixture.hpp"

namespace plextap::itest {
namespace {

using namespace std::chrono_literals;

// An AF_UNIX datagram socket in a temp dir, as systemd's notify socket is; NOTIFY_SOCKET
// names it for the plextap started while this lives.
class NotifySocket {
 public:
  NotifySocket() {
    path_ = (dir_.path() / "notify").string();
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("cannot bind the notify socket " + path_);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The next datagram, or "" when none comes within `limit`.
  std::string receive(std::chrono::milliseconds limit) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return "";
    char buf[4096];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  }

  // Datagrams until one holds `line` (a whole line of it); everything heard, or "" if the
  // line never came within `limit`.
  std::string wait_for(const std::string& line, std::chrono::milliseconds limit) {
    std::string heard;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      std::string message = receive(std::max(left, 1ms));
      if (message.empty()) continue;
      heard += message + "\n";
      std::istringstream lines(message);
      for (std::string l; std::getline(lines, l);)
        if (l == line) return heard;
    }
    return "";
  }

 private:
  TempDir dir_;
  std::string path_;
  int fd_ = -1;
};

using ServiceTest = ProxyTest;

TEST_F(ServiceTest, NotifiesReadyWhenServingAndStoppingWhenDraining) {
  NotifySocket notify;
  start({"--drain-timeout", "5s"});
  const std::string ready = notify.wait_for("READY=1", 10s);
  ASSERT_FALSE(ready.empty()) << "no READY=1 on the notify socket";
  EXPECT_NE(ready.find("STATUS="), std::string::npos) << ready;
  // Ready means answering: the proxy and the admin listener, at once.
  {
    auto c = http();
    EXPECT_EQ(c->send(c->request(http::verb::get, "/small")).result_int(), 200);
  }
  EXPECT_EQ(admin_get("/healthz").result_int(), 200);
  EXPECT_EQ(notify.receive(200ms), "") << "nothing else before the drain";

  auto busy = http();
  busy->write(busy->request(http::verb::get, "/slow?ms=1500"));
  ASSERT_TRUE(wait_until([&] { return upstream.find("/slow?ms=1500").has_value(); }, 3s));
  proxy->signal(SIGTERM);
  EXPECT_FALSE(notify.wait_for("STOPPING=1", 2s).empty()) << "no STOPPING=1 after SIGTERM";

  auto res = busy->read();  // the drain lets it finish
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "slow done");
  auto code = proxy->wait_exit(7s);
  ASSERT_TRUE(code) << "still running 7 s after SIGTERM";
  EXPECT_EQ(*code, 0);
}

TEST_F(ServiceTest, UnderJournaldLinesCarryPrioritiesAndNoTimestamps) {
  ::setenv("JOURNAL_STREAM", "8:12345", 1);
  start({"--drain-timeout", "300ms"});
  ::unsetenv("JOURNAL_STREAM");
  // A request outliving the drain makes a warning: priority 4, next to the info lines' 6.
  auto busy = http();
  busy->write(busy->request(http::verb::get, "/slow?ms=3000"));
  ASSERT_TRUE(wait_until([&] { return upstream.find("/slow?ms=3000").has_value(); }, 3s));
  proxy->signal(SIGTERM);
  ASSERT_TRUE(proxy->wait_exit(7s));
  const std::string err = proxy->stderr_text();
  std::istringstream lines(err);
  const std::regex journal_line("<[0-7]>[^<].*");
  const std::regex timestamp("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}");
  int lines_seen = 0;
  for (std::string line; std::getline(lines, line);) {
    ++lines_seen;
    EXPECT_TRUE(std::regex_match(line, journal_line)) << line;
    EXPECT_FALSE(std::regex_search(line, timestamp)) << line;
  }
  EXPECT_GE(lines_seen, 3) << err;
  EXPECT_NE(err.find("<6>listening on http://127.0.0.1:"), std::string::npos) << err;
  EXPECT_NE(err.find("\n<4>drain timeout"), std::string::npos) << err;
  EXPECT_NE(err.find("\n<6>stopped"), std::string::npos) << err;
}

TEST(ServiceCli, UnderJournaldErrorsBeforeExitHaveErrorPriority) {
  ::setenv("JOURNAL_STREAM", "8:12345", 1);
  auto usage = run_plextap({"serve", "--no-such-flag"});
  auto runtime = run_plextap({"certs", "show", "/nonexistent/cert.pem"});
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_TRUE(usage.err.starts_with("<3>plextap: ")) << usage.err;
  EXPECT_EQ(runtime.exit_code, 1);
  EXPECT_TRUE(runtime.err.starts_with("<3>plextap ")) << runtime.err;
  // Without the journal, the same line as always.
  auto plain = run_plextap({"serve", "--no-such-flag"});
  EXPECT_TRUE(plain.err.starts_with("plextap: ")) << plain.err;
}

// The value of the sample `series` (its whole name and labels as rendered), or -1.
double sample_value(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

TEST_F(ServiceTest, MetricsHaveProcessAndBuildInfo) {
  start();
  const std::string text = admin_get("/metrics").body();
  const double cpu = sample_value(text, "process_cpu_seconds_total");
  EXPECT_GT(cpu, 0) << text;
  EXPECT_LT(cpu, 600);
  const double rss = sample_value(text, "process_resident_memory_bytes");
  EXPECT_GT(rss, 1 << 20) << "resident memory under 1 MiB?";
  EXPECT_LT(rss, 4.0 * (1 << 30));
  EXPECT_GE(sample_value(text, "process_virtual_memory_bytes"), rss);
  const double fds = sample_value(text, "process_open_fds");
  EXPECT_GE(fds, 5) << "stdio and the listeners at least";
  EXPECT_NEAR(fds, proxy->open_fds(), 8);
  EXPECT_GE(sample_value(text, "process_max_fds"), fds);
  const double started = sample_value(text, "process_start_time_seconds");
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(started, now - 120) << "started over two minutes ago?";
  EXPECT_LE(started, now + 2);
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);

  const std::regex build_info(
      "\nplextap_build_info\\{version=\"([0-9]+\\.[0-9]+\\.[0-9]+)\",commit=\"([^\"]+)\"\\} 1\n");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, build_info)) << text;
  // The same version and commit --version prints.
  auto version = run_plextap({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, "plextap " + m[1].str() + " (" + m[2].str() + ")\n");
}

}  // namespace
}  // namespace plextap::itest
