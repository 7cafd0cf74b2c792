// A log line that may come in floods (a client looping over a failing call, a store that
// cannot be written): at most one line per interval, the next one saying how many were
// held back meanwhile. Thread-safe and lock-free: one instance may be shared by every
// thread that logs the same kind of message.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace plextap::base {

class RateLimitedLog {
 public:
  // `held_back`: how the next line names what was held back ("more misses" gives
  // "... (3 more misses held back)").
  RateLimitedLog(std::chrono::milliseconds interval, std::string held_back)
      : interval_ms_(interval.count()), held_back_(std::move(held_back)) {}

  // Null when a line went out less than an interval ago (this one is counted as held
  // back); else how many were held back since the last line, now reset to none.
  std::optional<std::uint64_t> admit();

  // Logs `message` at warning or error level if admitted, with the held-back count.
  void warn(std::string_view message);
  void error(std::string_view message);

 private:
  void log(bool error, std::string_view message);

  const std::int64_t interval_ms_;
  const std::string held_back_;
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();
  std::atomic<std::int64_t> last_ms_{kNever};  // steady clock, when the last line went out
  std::atomic<std::uint64_t> held_{0};
};

}  // namespace plextap::base
