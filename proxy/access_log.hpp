// One line per forwarded request (`--access-log`), in plextap's text, nginx's combined
// format or JSON, written by a background thread so the I/O threads never wait on the
// disk. Targets and referers are redacted, and every field escaped: a client cannot forge
// a line, or a field of one.
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
  std::string_view product;  // X-Plex-Product (header, else query), else User-Agent
  unsigned status = 0;       // 0: no response was sent
  std::uint64_t bytes_sent = 0;
  std::chrono::microseconds took{};
  unsigned version = 11;     // HTTP/1.x of the request line, as Beast counts it (10, 11)
  std::string_view referer;  // redacted on the way out
  std::string_view user_agent;
};

// What a session keeps of a request head for its line (copied only when logging).
struct AccessHead {
  std::string method, target, product, referer, user_agent;
  unsigned version = 11;
};
// X-Plex-Product from its header, else from the query (Plex Web sends it there, in any
// letter case), else the User-Agent.
std::string client_product(std::string_view header_product, std::string_view target,
                           std::string_view user_agent);

enum class AccessLogFormat {
  plextap,   // address, time, "method target", status, bytes, duration, "product"
  combined,  // nginx's combined: GoAccess, fail2ban and promtail read it as is
  json,      // one object per line
};
// "plextap", "combined", "json"; throws std::invalid_argument for another name.
AccessLogFormat parse_access_log_format(std::string_view name);

class AccessLog {
 public:
  // `destination`: empty for none, "-" for standard output, else a file to append to.
  AccessLog(const std::string& destination, AccessLogFormat format);
  ~AccessLog();
  bool enabled() const { return logger_ != nullptr; }
  // Any thread. The line goes to a background thread, which writes it whole.
  void write(const AccessRecord& r);
  void flush();
  // Opens the file again by its name (SIGHUP, SIGUSR1: logrotate renamed it): lines
  // written after go to the new file; each line is whole in one file or the other. When
  // the file cannot be opened the old one is kept (and the reason returned); empty: done.
  std::string reopen();

 private:
  class ReopenableSink;
  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<ReopenableSink> file_;
  AccessLogFormat format_;
};

// RFC 3339 in UTC with milliseconds: 2026-11-24T12:00:00.123Z
std::string utc_timestamp(std::chrono::system_clock::time_point t);

// A field of a text line, escaped as nginx does: `"`, `\`, control bytes (C0, DEL and the
// C1 controls U+0080..U+009F) and bytes that are not well-formed UTF-8 become \xHH, so no
// field can hold a quote or a line break, and valid UTF-8 stays readable. (JSON lines are
// escaped by base::append_json_escaped.)
void append_log_escaped(std::string& out, std::string_view s);

}  // namespace plextap::proxy
