#include "app/cli.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <streambuf>

#include "base/json_writer.hpp"
#include "base/time.hpp"
#include "proxy/access_log.hpp"

namespace plextap::app {

std::chrono::milliseconds parse_duration(const std::string& text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || value < 0) throw UsageError("bad duration '" + text + "'");
  std::string_view unit(end, text.data() + text.size() - end);
  double ms;
  if (unit.empty() || unit == "s")
    ms = value * 1000;
  else if (unit == "ms")
    ms = value;
  else if (unit == "m")
    ms = value * 60'000;
  else if (unit == "h")
    ms = value * 3'600'000;
  else
    throw UsageError("bad duration '" + text + "' (use ms, s, m or h)");
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

// At least 1M: a smaller map cannot hold the store's tables and a first group of events,
// a smaller queue not one exchange at the body cap.
std::size_t parse_size(const std::string& text, const std::string& flag) {
  const std::string usage = "bad " + flag + " '" + text +
                            "': a whole number of bytes, or of K, M or G (e.g. 64G), at least 1M";
  // std::stoull would take "-1" (and wrap it), leading blanks and a '+'.
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::uint64_t value = 0;
  const auto parsed = std::from_chars(text.data(), text.data() + digits, value);
  if (digits == 0 || parsed.ec == std::errc::invalid_argument) throw UsageError(usage);
  const std::string unit = text.substr(digits);
  unsigned shift = 0;
  if (unit == "G" || unit == "GiB")
    shift = 30;
  else if (unit == "M" || unit == "MiB")
    shift = 20;
  else if (unit == "K" || unit == "KiB")
    shift = 10;
  else if (!unit.empty())
    throw UsageError(usage);
  if (parsed.ec == std::errc::result_out_of_range || value > (SIZE_MAX >> shift))
    throw UsageError("bad " + flag + " '" + text + "': too large");
  const std::size_t bytes = static_cast<std::size_t>(value) << shift;
  if (bytes < (std::size_t{1} << 20)) throw UsageError(usage);
  return bytes;
}

std::int64_t parse_time(const std::string& text, std::int64_t now_ms) {
  // An age: a number and a unit.
  if (!text.empty() &&
      (text.back() == 'd' || text.back() == 'h' || text.back() == 'm' || text.back() == 's') &&
      text.find('-') == std::string::npos) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, value);
    if (ec == std::errc{} && end == text.data() + text.size() - 1 && value >= 0) {
      double unit_ms = text.back() == 'd'   ? 86'400'000
                       : text.back() == 'h' ? 3'600'000
                       : text.back() == 'm' ? 60'000
                                            : 1'000;
      return now_ms - static_cast<std::int64_t>(value * unit_ms);
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
