#include "app/cli.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <optional>
#include <streambuf>

#include "base/json_writer.hpp"
#include "base/time.hpp"
#include "proxy/access_log.hpp"

namespace plextap::app {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A number at the start of `text`: digits with at most one '.', no sign, no exponent
// (from_chars alone would take "inf", "-1" and "1e9"). Advances `text` past it.
std::optional<long double> leading_number(std::string_view& text) {
  std::size_t n = 0, dots = 0, digits = 0;
  while (n < text.size() && (is_digit(text[n]) || (text[n] == '.' && dots == 0))) {
    if (text[n] == '.')
      ++dots;
    else
      ++digits;
    ++n;
  }
  if (digits == 0) return std::nullopt;
  double value = 0;
  const auto parsed = std::from_chars(text.data(), text.data() + n, value);
  if (parsed.ec != std::errc{} || parsed.ptr != text.data() + n) return std::nullopt;
  text.remove_prefix(n);
  return value;
}

std::string_view leading_letters(std::string_view& text) {
  std::size_t n = 0;
  while (n < text.size() && std::isalpha(static_cast<unsigned char>(text[n]))) ++n;
  auto letters = text.substr(0, n);
  text.remove_prefix(n);
  return letters;
}

}  // namespace

std::chrono::milliseconds parse_duration(const std::string& text, const std::string& flag) {
  const std::string usage = "bad " + (flag.empty() ? std::string("duration") : flag) + " '" + text +
                            "' (a duration: 250ms, 90s, 2m, 1h30m, 1.5h, 2d, or seconds)";
  const std::string folded = lower(text);
  std::string_view rest = folded;
  long double ms = 0;
  bool first = true;
  while (!rest.empty()) {
    auto value = leading_number(rest);
    if (!value) throw UsageError(usage);
    const auto unit = leading_letters(rest);
    long double scale;
    if (unit.empty() && first && rest.empty())
      scale = 1000;  // a bare number of seconds
    else if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else if (unit == "d")
      scale = 86'400'000;
    else
      throw UsageError(usage);
    ms += *value * scale;
    first = false;
  }
  if (first) throw UsageError(usage);
  // A hundred years is more than any timeout or age means.
  if (ms > 100.0L * 365 * 86'400'000) throw UsageError(usage + ": too long");
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

// At least 1M: a smaller map cannot hold the store's tables and a first group of events,
// a smaller queue not one exchange at the body cap.
std::size_t parse_size(const std::string& text, const std::string& flag) {
  const std::string usage = "bad " + flag + " '" + text +
                            "': a number of bytes, or of K, M, G or T (64G, 1.5g, 512MiB), at "
                            "least 1M";
  const std::string folded = lower(text);
  std::string_view rest = folded;
  const auto value = leading_number(rest);
  if (!value) throw UsageError(usage);
  unsigned shift = 0;
  const std::string_view unit = rest;
  for (auto [names, bits] : {std::pair{std::array<std::string_view, 3>{"k", "kb", "kib"}, 10u},
                             std::pair{std::array<std::string_view, 3>{"m", "mb", "mib"}, 20u},
                             std::pair{std::array<std::string_view, 3>{"g", "gb", "gib"}, 30u},
                             std::pair{std::array<std::string_view, 3>{"t", "tb", "tib"}, 40u}})
    if (std::find(names.begin(), names.end(), unit) != names.end()) shift = bits;
  if (shift == 0 && !unit.empty() && unit != "b") throw UsageError(usage);
  // A fraction of a byte means nothing.
  if (shift == 0 && *value != static_cast<long double>(static_cast<std::uint64_t>(*value)))
    throw UsageError(usage);
  const long double bytes = *value * static_cast<long double>(std::uint64_t{1} << shift);
  if (bytes > static_cast<long double>(SIZE_MAX))
    throw UsageError("bad " + flag + " '" + text + "': too large");
  if (bytes < static_cast<long double>(std::size_t{1} << 20)) throw UsageError(usage);
  return static_cast<std::size_t>(bytes);
}

std::int64_t parse_time(const std::string& text, std::int64_t now_ms) {
  // An age: a duration ("90m", "24h", "7d", "1h30m") before now.
  if (!text.empty() && std::isalpha(static_cast<unsigned char>(text.back())) &&
      text.find_first_of("-:") == std::string::npos) {
    try {
      return now_ms - parse_duration(text).count();
    } catch (const UsageError&) {
      // Reported below as a bad time.
    }
  }
  if (auto ms = base::parse_rfc3339_ms(text)) return *ms;
  throw UsageError("bad time '" + text +
                   "' (use 2026-11-01T00:00:00Z, 2026-11-01, an offset like +01:00, or an age "
                   "like 24h)");
}

std::int64_t parse_time(const std::string& text) {
  return parse_time(text, std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
}

std::string json_log_line(std::string_view ts, std::string_view level, std::string_view message) {
  std::string line = "{\"ts\":\"";
  line.append(ts).append("\",\"level\":\"").append(level).append("\",\"msg\":\"");
  // Invalid UTF-8 in a message (a client's bytes in it) still gives valid JSON.
  base::append_json_escaped(line, message);
  line.append("\"}\n");
  return line;
}

namespace {

// Formats a log record as one JSON object, escaping the message.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto level = spdlog::level::to_string_view(msg.level);
    dest.append(json_log_line(proxy::utc_timestamp(msg.time),
                              std::string_view(level.data(), level.size()),
                              std::string_view(msg.payload.data(), msg.payload.size())));
  }
  std::unique_ptr<formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// For journald reading stderr: no time of its own (the journal stamps each line) and the
// syslog priority as a "<N>" prefix (sd-daemon(3)), on every line of a message.
class JournalFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const char prefix[] = {'<', static_cast<char>('0' + priority(msg.level)), '>'};
    dest.append(prefix, prefix + sizeof prefix);
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      dest.push_back(c);
      if (c == '\n') dest.append(prefix, prefix + sizeof prefix);
    }
    dest.push_back('\n');
  }
  std::unique_ptr<formatter> clone() const override { return std::make_unique<JournalFormatter>(); }

 private:
  static int priority(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::critical:
        return 2;  // LOG_CRIT
      case spdlog::level::err:
        return 3;  // LOG_ERR
      case spdlog::level::warn:
        return 4;  // LOG_WARNING
      case spdlog::level::info:
        return 6;  // LOG_INFO
      default:
        return 7;  // LOG_DEBUG
    }
  }
};

// std::cerr's lines as errors for journald: "<3>" before each.
class JournalErrorBuffer final : public std::streambuf {
 public:
  explicit JournalErrorBuffer(std::streambuf* out) : out_(out) {}

 protected:
  int overflow(int c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    if (at_line_start_ && out_->sputn("<3>", 3) != 3) return traits_type::eof();
    at_line_start_ = c == '\n';
    return out_->sputc(static_cast<char>(c));
  }
  int sync() override { return out_->pubsync(); }

 private:
  std::streambuf* out_;
  bool at_line_start_ = true;
};

}  // namespace

bool stderr_to_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  return stream && *stream;
}

void journal_priorities_on_cerr() {
  if (!stderr_to_journal()) return;
  static JournalErrorBuffer buffer(std::cerr.rdbuf());
  std::cerr.rdbuf(&buffer);
}

void setup_logging(bool json, bool journal) {
  auto logger = std::make_shared<spdlog::logger>("plextap",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (json)
    logger->set_formatter(std::make_unique<JsonFormatter>());
  else if (journal || stderr_to_journal())
    logger->set_formatter(std::make_unique<JournalFormatter>());
  else
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

Output::Output(const std::string& path) {
  if (path.empty() || path == "-") return;
  file_.reset(std::fopen(path.c_str(), "w"));
  if (!file_) throw std::runtime_error("cannot write " + path);
}

}  // namespace plextap::app
