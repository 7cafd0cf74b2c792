// What the fault tests need beyond the usual harness: plextap started by fork and exec
// (as another user, with fewer descriptors), a small tmpfs of the test's own, and the
// CPU time and descriptors of a process.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/common.hpp"
#include "tests/integration/process.hpp"

namespace plextap::itest {

// plextap (PLEXTAP_BINARY) with `args`, for what posix_spawn cannot set up: another user,
// a lower descriptor limit. Standard output and error go to files; standard input is
// /dev/null, the directory is /. Killed (SIGKILL) and reaped on destruction if running.
class Forked {
 public:
  struct Options {
    std::optional<uid_t> uid;  // with that user's group and no others
    std::optional<rlim_t> open_files;
  };
  Forked(const std::vector<std::string>& args, const Options& options);
  ~Forked();
  Forked(const Forked&) = delete;
  Forked& operator=(const Forked&) = delete;

  pid_t pid() const { return pid_; }
  std::string out() const;
  std::string err() const;
  // The exit code (128 + signal when one ended it), or nothing after `limit`.
  std::optional<int> wait_exit(std::chrono::milliseconds limit);

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  std::optional<int> code_;
};

// A tmpfs mounted at `at` with `options` ("size=2m", "size=1m,ro"), unmounted on
// destruction. Root only: why_not() says why there is none.
class SmallDisk {
 public:
  SmallDisk(const std::filesystem::path& at, const std::string& options);
  ~SmallDisk();
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;
  const std::string& why_not() const { return why_; }
  // Gives the file system another size ("64m"), keeping what is on it.
  bool resize(const std::string& size);

 private:
  std::filesystem::path at_;
  bool mounted_ = false;
  std::string why_;
};

// CPU seconds (user + system) process `pid` has used so far.
double cpu_seconds(pid_t pid);
// Descriptors process `pid` has open; -1 if unreadable.
int open_fds(pid_t pid);

}  // namespace plextap::itest
