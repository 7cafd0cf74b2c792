// Helpers for the command line: durations, sizes, times, logging set-up, the errors it reports.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace plextap::app {

// A usage error: reported as one line on stderr, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "250ms", "90s", "2m", "1h30m", "1.5h", "2d" (units in any letter case, parts added up)
// or a bare number of seconds; anything else is a UsageError naming `flag`.
std::chrono::milliseconds parse_duration(const std::string& text, const std::string& flag = {});

// "64G", "64g", "1.5G", "512MiB", "512mb", "1024K" (K, M, G, T: powers of 1024, with or
// without B or iB, any letter case) or bytes, for the flag `flag`: at least 1M, at most
// what a size_t holds; anything else is a UsageError naming the flag.
std::size_t parse_size(const std::string& text, const std::string& flag);

// "2026-11-01T00:00:00Z" (RFC 3339, fraction and offset allowed), "2026-11-01" (UTC
// midnight), or an age before `now_ms`: "90m", "24h", "7d", "30s". Milliseconds since epoch.
std::int64_t parse_time(const std::string& text, std::int64_t now_ms);
// The same, ages counted back from the current time.
std::int64_t parse_time(const std::string& text);

// Where a command writes: the file `path` (created or truncated), or standard output for ""
// and "-". Throws std::runtime_error naming the file when it cannot be opened.
class Output {
 public:
  explicit Output(const std::string& path);
  std::FILE* get() const { return file_ ? file_.get() : stdout; }

 private:
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_{nullptr, &std::fclose};
};

// One line of the JSON process log: {"ts":…,"level":…,"msg":…} and a line feed; valid
// JSON whatever bytes the message holds.
std::string json_log_line(std::string_view ts, std::string_view level, std::string_view message);

// Process log on stderr, as text or one JSON object per line; text in journald's form
// (priority prefixes, no timestamps) with `journal`, or when JOURNAL_STREAM says stderr
// goes to the journal, unless JSON is asked for.
void setup_logging(bool json, bool journal = false);
// True when JOURNAL_STREAM says stderr goes to the journal (systemd sets it for a unit).
bool stderr_to_journal();
// Under the journal, every line written to std::cerr (the one-line errors before exit)
// gets the error priority "<3>"; otherwise nothing changes.
void journal_priorities_on_cerr();

}  // namespace plextap::app
