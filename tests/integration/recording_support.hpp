// Helpers of the recording tests: exported JSON lines read field by field, a plextap child
// whose standard output the test reads as it comes (`export --follow`, a second `serve`),
// and small text utilities (Prometheus samples, RFC 3339 times, fixtures).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/integration/process.hpp"

namespace plextap::itest {

// One line of `plextap export … --format jsonl`, parsed. Fields are read with JSON
// pointers (RFC 6901): "/client/id", "/hubs/0/size".
class JsonLine {
 public:
  // Throws std::runtime_error when the line is not one JSON object.
  explicit JsonLine(std::string line);
  ~JsonLine();
  JsonLine(JsonLine&&) noexcept;
  JsonLine& operator=(JsonLine&&) noexcept;

  const std::string& text() const { return text_; }
  // The value at `pointer` as minified JSON text (strings quoted, `null`, `8`, `true`,
  // `["a","b"]`), or "<absent>" when there is no such member.
  std::string json(std::string_view pointer) const;
  // The string at `pointer`; "<absent>" or "<not a string: TEXT>" otherwise.
  std::string str(std::string_view pointer) const;
  bool has(std::string_view pointer) const;
  // Member names of the object at `pointer`, in order (empty if not an object).
  std::vector<std::string> keys(std::string_view pointer) const;

 private:
  struct Doc;  // simdjson's parser and root, kept out of this header
  std::string text_;
  std::unique_ptr<Doc> doc_;
};

// Lines of `text` without their '\n'; no trailing empty line.
std::vector<std::string> split_lines(const std::string& text);

// The lines of a `plextap export` run, parsed; a failed run or a bad line fails the test.
std::vector<JsonLine> export_result_lines(const CliResult& run, const std::string& kind);

// `plextap` (PLEXTAP_BINARY) with `args`, as a child whose standard output is a pipe the
// test reads while the child runs; standard error goes to a file. Killed (SIGKILL) and
// reaped on destruction if still running.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Everything the child wrote to standard output so far (reads what is waiting).
  const std::string& out();
  std::string err() const;
  // Polls out() until `done(out())` holds or `limit` passes.
  bool wait_out(const std::function<bool(const std::string&)>& done,
                std::chrono::milliseconds limit);
  bool wait_err(const std::function<bool(const std::string&)>& done,
                std::chrono::milliseconds limit);
  void signal(int signo) const;
  // The exit code once exited (128 + signal if a signal ended it), or nothing after `limit`.
  std::optional<int> wait_exit(std::chrono::milliseconds limit);

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string out_;
  std::optional<int> exit_code_;
};

// The value of the sample `series` (exactly as rendered, labels included) in Prometheus
// text, or -1 when absent.
long long metric_value(const std::string& text, const std::string& series);

// RFC 3339 UTC with milliseconds, as `export --since/--until` accept.
std::string rfc3339_ms(std::chrono::system_clock::time_point t);

// A file of tests/fixtures/plex; throws if missing.
std::string plex_fixture(std::string_view name);

// Every regular file under `dir`, recursively.
std::vector<std::filesystem::path> files_under(const std::filesystem::path& dir);

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string url_encode(std::string_view s);

}  // namespace plextap::itest
