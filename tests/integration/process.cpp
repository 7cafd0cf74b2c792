// The child-process side of the harness: spawns plextap with posix_spawn, learns its
// ports from the startup lines on stderr, and reads /proc for memory and descriptors.
#include "tests/integration/process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

#include "tests/integration/common.hpp"

namespace plextap::itest {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view v(*e);
    if (v.starts_with("PLEXTAP_") || v.starts_with("PLEX_TOKEN=")) continue;
    env.emplace_back(v);
  }
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

namespace {

// Starts `args` with stdin from /dev/null and stdout/stderr into files, in `cwd`.
pid_t spawn(std::vector<std::string> args, const fs::path& cwd, const fs::path& out,
            const fs::path& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());

  // The test process ignores SIGPIPE and its threads may block signals; plextap must
  // run with the dispositions it would get from a shell.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, pipe;
  sigemptyset(&none);
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &pipe);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  auto env = child_environment();
  auto argv = c_strings(args);
  auto envp = c_strings(env);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn plextap");
  return pid;
}

// Non-blocking reap; the exit code when the child has ended.
std::optional<int> try_reap(pid_t pid) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r != pid) return std::nullopt;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::optional<int> reap_within(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (auto code = try_reap(pid)) return code;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

}  // namespace

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "plextap-itest-XXXXXX").string();
  if (!::mkdtemp(pattern.data()))
    throw std::system_error(errno, std::generic_category(), "mkdtemp");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

PlextapProcess::PlextapProcess(std::uint16_t upstream_port, const std::vector<std::string>& extra) {
  start("http://127.0.0.1:" + std::to_string(upstream_port), extra);
}

PlextapProcess::PlextapProcess(const std::string& upstream_url,
                               const std::vector<std::string>& extra) {
  start(upstream_url, extra);
}

void PlextapProcess::start(const std::string& upstream_url, const std::vector<std::string>& extra) {
  std::vector<std::string> args{PLEXTAP_BINARY, "serve",
                                "--listen",     "https://127.0.0.1:0",
                                "--listen",     "http://127.0.0.1:0",
                                "--admin",      "127.0.0.1:0",
                                "--upstream",   upstream_url,
                                "--data",       (dir() / "data").string()};
  // plextap refuses a flag given twice, so a --threads of the test's replaces ours.
  const bool own_threads = std::any_of(extra.begin(), extra.end(), [](const std::string& a) {
    return a == "--threads" || a.starts_with("--threads=");
  });
  if (!own_threads) args.insert(args.end(), {"--threads", "2"});
  args.insert(args.end(), extra.begin(), extra.end());
  pid_ = spawn(args, dir(), dir() / "stdout.log", dir() / "stderr.log");

  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto err = stderr_text();
    https_port_ = port_after(err, "listening on https://127.0.0.1:");
    http_port_ = port_after(err, "listening on http://127.0.0.1:");
    admin_port_ = port_after(err, "admin on http://127.0.0.1:");
    if (https_port_ && http_port_ && admin_port_) return;
    if (!exit_code_) exit_code_ = try_reap(pid_);
    if (exit_code_ || std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error("plextap did not start (exit " +
                               (exit_code_ ? std::to_string(*exit_code_) : std::string("-")) +
                               "); stderr:\n" + stderr_text());
    std::this_thread::sleep_for(10ms);
  }
}

PlextapProcess::~PlextapProcess() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    reap_within(pid_, 5s);
  }
}

std::string PlextapProcess::stderr_text() const {
  return read_file(dir() / "stderr.log");
}
std::string PlextapProcess::stdout_text() const {
  return read_file(dir() / "stdout.log");
}

void PlextapProcess::signal(int signo) const {
  if (!exit_code_) ::kill(pid_, signo);
}

std::optional<int> PlextapProcess::wait_exit(std::chrono::milliseconds limit) {
  if (!exit_code_) exit_code_ = reap_within(pid_, limit);
  return exit_code_;
}

long PlextapProcess::vm_hwm_kib() const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmHWM:")) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

int PlextapProcess::open_fds() const {
  std::error_code ec;
  fs::directory_iterator it("/proc/" + std::to_string(pid_) + "/fd", ec);
  if (ec) return -1;
  int n = 0;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return -1;
    ++n;
  }
  return n;
}

BackgroundPlextap::BackgroundPlextap(const std::vector<std::string>& args) {
  std::vector<std::string> argv{PLEXTAP_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn(argv, tmp_.path(), tmp_.path() / "stdout.log", tmp_.path() / "stderr.log");
}

BackgroundPlextap::~BackgroundPlextap() {
  if (!exit_code_) {
    ::kill(pid_, SIGKILL);
    reap_within(pid_, 5s);
  }
}

void BackgroundPlextap::signal(int signo) const {
  if (!exit_code_) ::kill(pid_, signo);
}

std::optional<int> BackgroundPlextap::wait_exit(std::chrono::milliseconds limit) {
  if (!exit_code_) exit_code_ = reap_within(pid_, limit);
  return exit_code_;
}

std::string BackgroundPlextap::stderr_text() const {
  return read_file(tmp_.path() / "stderr.log");
}

std::string BackgroundPlextap::stdout_text() const {
  return read_file(tmp_.path() / "stdout.log");
}

CliResult run_plextap(const std::vector<std::string>& args, std::chrono::milliseconds limit) {
  TempDir tmp;
  std::vector<std::string> argv{PLEXTAP_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = spawn(argv, tmp.path(), tmp.path() / "stdout.log", tmp.path() / "stderr.log");
  CliResult result;
  if (auto code = reap_within(pid, limit)) {
    result.exit_code = *code;
  } else {
    ::kill(pid, SIGKILL);
    reap_within(pid, 5s);
  }
  result.out = read_file(tmp.path() / "stdout.log");
  result.err = read_file(tmp.path() / "stderr.log");
  return result;
}

}  // namespace plextap::itest
