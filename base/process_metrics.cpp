#include "base/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

#include "base/prometheus.hpp"

namespace plextap::base {
namespace {

std::string format_double(double value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return ec == std::errc() ? std::string(buf, end) : std::string("0");
}

std::string slurp(const char* path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Field `n` (1-based, as proc(5) numbers them) of /proc/self/stat. The command name, field 2,
// may hold blanks and parentheses, so counting starts after its last ')'.
std::optional<unsigned long long> stat_field(const std::string& stat, int n) {
  auto close = stat.rfind(')');
  if (close == std::string::npos || n < 3) return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= n; ++i)
    if (!(rest >> field)) return std::nullopt;
  unsigned long long value = 0;
  auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec != std::errc() || ptr != field.data() + field.size()) return std::nullopt;
  return value;
}

// Seconds since the epoch at which the machine booted ("btime" in /proc/stat).
std::optional<unsigned long long> boot_time() {
  std::istringstream in(slurp("/proc/stat"));
  std::string key;
  unsigned long long value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(1 << 16, '\n');
  }
  return std::nullopt;
}

}  // namespace

std::string process_metrics_text() {
  std::string text;
  PrometheusText out(text);
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));

  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0) {
    const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                       static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    out.family("process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.");
    out.sample("process_cpu_seconds_total", format_double(cpu));
  }

  // statm: size (virtual) and resident, in pages.
  std::istringstream statm(slurp("/proc/self/statm"));
  unsigned long long virtual_pages = 0, resident_pages = 0;
  if (statm >> virtual_pages >> resident_pages) {
    out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out.sample("process_resident_memory_bytes",
               format_double(static_cast<double>(resident_pages) * page));
    out.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    out.sample("process_virtual_memory_bytes",
               format_double(static_cast<double>(virtual_pages) * page));
  }

  std::error_code ec;
  std::filesystem::directory_iterator fds("/proc/self/fd", ec);
  if (!ec) {
    // The count includes the descriptor this listing holds open, as Prometheus' clients do.
    long long open = 0;
    for (auto it = fds; it != std::filesystem::directory_iterator() && !ec; it.increment(ec))
      ++open;
    out.family("process_open_fds", "gauge", "Number of open file descriptors.");
    out.sample("process_open_fds", open);
  }

  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    out.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
    out.sample("process_max_fds",
               files.rlim_cur == RLIM_INFINITY
                   ? std::string("+Inf")
                   : std::to_string(static_cast<unsigned long long>(files.rlim_cur)));
  }

  // starttime (field 22) is in clock ticks after boot.
  auto started = stat_field(slurp("/proc/self/stat"), 22);
  auto booted = boot_time();
  if (started && booted && ticks > 0) {
    out.family("process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.");
    out.sample("process_start_time_seconds",
               format_double(static_cast<double>(*booted) + static_cast<double>(*started) / ticks));
  }
  return text;
}

}  // namespace plextap::base
