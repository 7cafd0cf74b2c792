#include "tests/integration/fault_support.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include "tests/integration/common.hpp"

namespace plextap::itest {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

Forked::Forked(const std::vector<std::string>& args, const Options& options) {
  std::vector<std::string> argv{PLEXTAP_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  auto env = child_environment();
  auto c_argv = c_strings(argv);
  auto c_env = c_strings(env);
  const auto out = dir_.path() / "stdout.log", err = dir_.path() / "stderr.log";
  gid_t gid = 0;
  if (options.uid)
    if (const passwd* pw = ::getpwuid(*options.uid)) gid = pw->pw_gid;
  pid_ = ::fork();
  if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid_ != 0) return;
  // The child: only async-signal-safe calls from here to exec (the test has threads).
  int in = ::open("/dev/null", O_RDONLY);
  int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (in < 0 || o < 0 || e < 0 || ::dup2(in, 0) < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0)
    ::_exit(126);
  if (options.open_files) {
    rlimit limit{*options.open_files, *options.open_files};
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(126);
  }
  if (options.uid &&
      (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(*options.uid) != 0))
    ::_exit(126);
  // The dispositions a shell gives, not the test's (which ignores SIGPIPE).
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  if (::chdir("/") != 0) ::_exit(126);
  ::execve(c_argv[0], c_argv.data(), c_env.data());
  ::_exit(127);
}

Forked::~Forked() {
  if (pid_ > 0 && !code_) {
    ::kill(pid_, SIGKILL);
    wait_exit(5s);
  }
}

std::string Forked::out() const {
  return read_file(dir_.path() / "stdout.log");
}
std::string Forked::err() const {
  return read_file(dir_.path() / "stderr.log");
}

std::optional<int> Forked::wait_exit(std::chrono::milliseconds limit) {
  wait_until(
      [&] {
        int status = 0;
        if (!code_ && ::waitpid(pid_, &status, WNOHANG) == pid_)
          code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return code_.has_value();
      },
      limit, 5ms);
  return code_;
}

SmallDisk::SmallDisk(const fs::path& at, const std::string& options) : at_(at) {
  fs::create_directories(at_);
  if (::geteuid() != 0) {
    why_ = "needs root, to mount a small tmpfs";
  } else if (::mount("tmpfs", at_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    why_ = std::string("cannot mount a tmpfs here: ") + std::strerror(errno);
  } else {
    mounted_ = true;
  }
}

SmallDisk::~SmallDisk() {
  if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
}

bool SmallDisk::resize(const std::string& size) {
  return ::mount("tmpfs", at_.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0;
}

double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  // The fields after the command name (in parentheses): utime and stime are the 12th and
  // 13th of them, in clock ticks.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 1; i <= 13 && rest >> field; ++i) {
    if (i == 12) utime = std::stoull(field);
    if (i == 13) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int open_fds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  return ec ? -1 : n;
}

}  // namespace plextap::itest
