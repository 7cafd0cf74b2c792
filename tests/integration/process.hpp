// Runs the real plextap binary as a child process and observes it from the outside:
// the ports it reports, its stderr, exit status, peak memory and open descriptors.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace plextap::itest {

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& path);

// `plextap serve` with an https and an http listener, an admin listener (all on
// 127.0.0.1, ephemeral ports), a fresh data dir and two threads, plus `extra` flags.
// A `--threads N` in `extra` replaces the two threads (e.g. `--threads 1`, so that every
// client shares one upstream pool).
class PlextapProcess {
 public:
  // Waits up to 10 s for the startup lines; throws std::runtime_error (with the
  // child's stderr) if they do not come.
  PlextapProcess(std::uint16_t upstream_port, const std::vector<std::string>& extra = {});
  // Like the above with a full --upstream URL.
  PlextapProcess(const std::string& upstream_url, const std::vector<std::string>& extra);
  ~PlextapProcess();  // SIGKILL if still running
  PlextapProcess(const PlextapProcess&) = delete;
  PlextapProcess& operator=(const PlextapProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::uint16_t https_port() const { return https_port_; }
  std::uint16_t http_port() const { return http_port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  // Scratch space for the test too (access logs and the like).
  const std::filesystem::path& dir() const { return tmp_.path(); }
  // The CA that signed the generated listener certificate.
  std::filesystem::path ca_file() const { return tmp_.path() / "data" / "certs" / "ca.pem"; }
  std::string stderr_text() const;
  std::string stdout_text() const;

  void signal(int signo) const;
  // The exit code once the process has exited (128 + signal if a signal ended it),
  // or nothing if it still runs after `limit`.
  std::optional<int> wait_exit(std::chrono::milliseconds limit);
  // Peak resident set size (VmHWM) in KiB; -1 if unreadable.
  long vm_hwm_kib() const;
  // Entries in /proc/PID/fd; -1 if unreadable.
  int open_fds() const;

 private:
  void start(const std::string& upstream_url, const std::vector<std::string>& extra);

  TempDir tmp_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::uint16_t https_port_ = 0;
  std::uint16_t http_port_ = 0;
  std::uint16_t admin_port_ = 0;
};

// The environment for a child plextap: ours without PLEXTAP_* and PLEX_TOKEN, which
// plextap would read as flags and which would make tests depend on who runs them.
std::vector<std::string> child_environment();
// argv/envp form of `strings` (pointers into them, null-terminated).
std::vector<char*> c_strings(std::vector<std::string>& strings);

struct CliResult {
  int exit_code = -1;  // -1: did not finish in time (and was killed)
  std::string out;
  std::string err;
};

// plextap with `args` in a scratch directory, running in the background until it ends, is
// signalled, or is killed with the object.
class BackgroundPlextap {
 public:
  explicit BackgroundPlextap(const std::vector<std::string>& args);
  ~BackgroundPlextap();  // SIGKILL if still running
  BackgroundPlextap(const BackgroundPlextap&) = delete;
  BackgroundPlextap& operator=(const BackgroundPlextap&) = delete;

  void signal(int signo) const;
  // As PlextapProcess::wait_exit.
  std::optional<int> wait_exit(std::chrono::milliseconds limit);
  std::string stderr_text() const;
  std::string stdout_text() const;

 private:
  TempDir tmp_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Runs plextap with `args` in a scratch directory, to completion or at most `limit`.
CliResult run_plextap(const std::vector<std::string>& args,
                      std::chrono::milliseconds limit = std::chrono::seconds(10));

}  // namespace plextap::itest
