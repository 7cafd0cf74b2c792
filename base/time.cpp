#include "base/time.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>

namespace plextap::base {
namespace {

using namespace std::chrono;

struct Civil {
  int year;
  unsigned month, day, hour, minute, second;
};

Civil civil(std::int64_t secs) {
  const sys_seconds t{seconds(secs)};
  const auto day = floor<days>(t);
  const year_month_day ymd(day);
  const hh_mm_ss hms(t - day);
  return {static_cast<int>(ymd.year()),
          static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day()),
          static_cast<unsigned>(hms.hours().count()),
          static_cast<unsigned>(hms.minutes().count()),
          static_cast<unsigned>(hms.seconds().count())};
}

// Exactly `width` ASCII digits at the start of `s`, consumed; null otherwise.
std::optional<int> digits(std::string_view& s, std::size_t width) {
  if (s.size() < width) return std::nullopt;
  int v = 0;
  for (std::size_t i = 0; i < width; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  s.remove_prefix(width);
  return v;
}

bool take(std::string_view& s, char c) {
  if (s.empty() || s.front() != c) return false;
  s.remove_prefix(1);
  return true;
}

}  // namespace

std::string rfc3339_ms(std::int64_t ms) {
  std::int64_t secs = ms / 1000, frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  const Civil c = civil(secs);
  if (c.year >= 0 && c.year <= 9999) {
    // Every event carries one: digits by hand, as snprintf costs ten times as much.
    std::string out = "0000-00-00T00:00:00.000Z";
    auto put = [&](std::size_t at, unsigned v, int width) {
      for (int k = width - 1; k >= 0; --k, v /= 10)
        out[at + static_cast<std::size_t>(k)] = char('0' + v % 10);
    };
    put(0, static_cast<unsigned>(c.year), 4);
    put(5, c.month, 2);
    put(8, c.day, 2);
    put(11, c.hour, 2);
    put(14, c.minute, 2);
    put(17, c.second, 2);
    put(20, static_cast<unsigned>(frac), 3);
    return out;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02u.%03dZ", c.year, c.month, c.day,
                c.hour, c.minute, c.second, static_cast<int>(frac));
  return buf;
}

std::string rfc3339_seconds(std::int64_t secs) {
  const Civil c = civil(secs);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02uZ", c.year, c.month, c.day, c.hour,
                c.minute, c.second);
  return buf;
}

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view rest) {
  auto y = digits(rest, 4);
  if (!y || !take(rest, '-')) return std::nullopt;
  auto mo = digits(rest, 2);
  if (!mo || !take(rest, '-')) return std::nullopt;
  auto d = digits(rest, 2);
  if (!d) return std::nullopt;
  const year_month_day ymd{year(*y), month(static_cast<unsigned>(*mo)),
                           day(static_cast<unsigned>(*d))};
  if (!ymd.ok()) return std::nullopt;  // 2026-02-30, 2026-13-01, 2026-04-31, ...
  std::int64_t secs = sys_days(ymd).time_since_epoch().count() * std::int64_t{86'400};
  std::int64_t frac_ms = 0;
  if (!rest.empty()) {
    if (rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ') return std::nullopt;
    rest.remove_prefix(1);
    auto h = digits(rest, 2);
    if (!h || !take(rest, ':')) return std::nullopt;
    auto mi = digits(rest, 2);
    if (!mi || !take(rest, ':')) return std::nullopt;
    auto s = digits(rest, 2);
    if (!s || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
    secs += *h * 3600 + *mi * 60 + *s;
    if (take(rest, '.')) {
      // The fraction, rounded to the millisecond.
      std::size_t n = 0;
      while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
      if (n == 0) return std::nullopt;
      double fraction = 0;
      std::string text = "0." + std::string(rest.substr(0, n));
      std::from_chars(text.data(), text.data() + text.size(), fraction);
      frac_ms = static_cast<std::int64_t>(fraction * 1000 + 0.5);
      rest.remove_prefix(n);
    }
    if (rest == "Z" || rest == "z") {
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
      const int sign = rest[0] == '+' ? 1 : -1;
      std::string_view hm = rest.substr(1);
      auto oh = digits(hm, 2);
      if (!oh || !take(hm, ':')) return std::nullopt;
      auto om = digits(hm, 2);
      if (!om || *oh > 23 || *om > 59) return std::nullopt;
      secs -= sign * (*oh * 3600 + *om * 60);
    } else {
      return std::nullopt;
    }
  }
  return secs * 1000 + frac_ms;
}

}  // namespace plextap::base
