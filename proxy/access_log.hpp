// One line per forwarded request (`--access-log`), text or JSON, written by a
// background thread so the I/O threads never wait on the disk. Targets are redacted, and
// every field escaped: a client cannot forge a line, or a field of one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

namespace plextap::proxy {

struct AccessRecord {
  std::string_view remote;
  std::string_view method;
  std::string_view target;   // as received; redacted on the way out
  std::string_view product;  // X-Plex-Product or User-Agent
  unsigned status = 0;       // 0: no response was sent
  std::uint64_t bytes_sent = 0;
  std::chrono::microseconds took{};
};

class AccessLog {
 public:
  // `destination`: empty for none, "-" for standard output, else a file to append to.
  AccessLog(const std::string& destination, bool json);
  ~AccessLog();
  bool enabled() const { return logger_ != nullptr; }
  void write(const AccessRecord& r);
  void flush();

 private:
  std::shared_ptr<spdlog::logger> logger_;
  bool json_;
};

// RFC 3339 in UTC with milliseconds: 2026-11-24T12:00:00.123Z
std::string utc_timestamp(std::chrono::system_clock::time_point t);

// A field of a text line, escaped as nginx does: `"`, `\`, control bytes (C0, DEL and the
// C1 controls U+0080..U+009F) and bytes that are not well-formed UTF-8 become \xHH, so no
// field can hold a quote or a line break, and valid UTF-8 stays readable. (JSON lines are
// escaped by base::append_json_escaped.)
void append_log_escaped(std::string& out, std::string_view s);

}  // namespace plextap::proxy
