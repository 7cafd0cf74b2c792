#include "base/rate_limited_log.hpp"

#include <spdlog/spdlog.h>

namespace plextap::base {

std::optional<std::uint64_t> RateLimitedLog::admit() {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t last = last_ms_.load(std::memory_order_relaxed);
  // Of threads racing past the interval, the one whose exchange succeeds logs.
  if ((last != kNever && now - last < interval_ms_) ||
      !last_ms_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    held_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  return held_.exchange(0, std::memory_order_relaxed);
}

void RateLimitedLog::warn(std::string_view message) {
  log(false, message);
}

void RateLimitedLog::error(std::string_view message) {
  log(true, message);
}

void RateLimitedLog::log(bool error, std::string_view message) {
  auto held = admit();
  if (!held) return;
  const auto level = error ? spdlog::level::err : spdlog::level::warn;
  if (*held)
    spdlog::log(level, "{} ({} {} held back)", message, *held, held_back_);
  else
    spdlog::log(level, "{}", message);
}

}  // namespace plextap::base
