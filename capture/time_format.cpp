#include "capture/time_format.hpp"

#include <cstdio>
#include <ctime>

namespace plextap::capture {

std::string rfc3339_ms(std::int64_t ms) {
  std::int64_t secs = ms / 1000, frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(frac));
  return buf;
}

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text) {
  std::string s(text);  // sscanf wants a terminated string
  int year, month, day, hour = 0, minute = 0, n = 0;
  double second = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &n) != 3 || n != 10)
    return std::nullopt;
  std::string_view rest(s.c_str() + n);
  std::int64_t offset_s = 0;
  if (!rest.empty()) {
    int m = 0;
    if ((rest[0] != 'T' && rest[0] != 't' && rest[0] != ' ') ||
        std::sscanf(rest.data() + 1, "%2d:%2d:%lf%n", &hour, &minute, &second, &m) != 3)
      return std::nullopt;
    rest.remove_prefix(1 + static_cast<std::size_t>(m));
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (rest == "Z" || rest == "z") {
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
               digit(rest[1]) && digit(rest[2]) && digit(rest[4]) && digit(rest[5])) {
      int oh = (rest[1] - '0') * 10 + (rest[2] - '0'), om = (rest[4] - '0') * 10 + (rest[5] - '0');
      offset_s = (rest[0] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    } else {
      return std::nullopt;
    }
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  std::int64_t secs = static_cast<std::int64_t>(timegm(&tm)) - offset_s;
  return secs * 1000 + static_cast<std::int64_t>(second * 1000 + 0.5);
}

}  // namespace plextap::capture
