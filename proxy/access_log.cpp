#include "proxy/access_log.hpp"

#include <spdlog/async.h>
#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <mutex>
#include <stdexcept>

#include "base/json_writer.hpp"
#include "base/percent.hpp"
#include "base/time.hpp"
#include "capture/redact.hpp"

namespace plextap::proxy {

namespace {

// U+0080..U+009F (C1 controls, encoded C2 80..C2 9F): a terminal may act on them.
bool is_c1(std::string_view s, std::size_t i) {
  return static_cast<unsigned char>(s[i]) == 0xc2 && i + 1 < s.size() &&
         static_cast<unsigned char>(s[i + 1]) <= 0x9f;
}

void append_hex_escape(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

}  // namespace

void append_log_escaped(std::string& out, std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
        append_hex_escape(out, c);
      else
        out += static_cast<char>(c);
      ++i;
      continue;
    }
    const std::size_t n = base::utf8_length(s, i);
    if (n == 0) {  // not UTF-8: the byte alone
      append_hex_escape(out, c);
      ++i;
    } else if (is_c1(s, i)) {  // both bytes, as nginx would show them
      append_hex_escape(out, c);
      append_hex_escape(out, static_cast<unsigned char>(s[i + 1]));
      i += 2;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
}

// A file sink that can be opened again by name. The background thread writes each line
// under the sink's mutex, and reopen() swaps the file under the same mutex: a line goes
// whole to the old file or whole to the new one.
class AccessLog::ReopenableSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ReopenableSink(std::string path) : path_(std::move(path)) {
    file_ = std::make_unique<spdlog::details::file_helper>();
    file_->open(path_);
  }
  std::string reopen() {
    auto next = std::make_unique<spdlog::details::file_helper>();
    try {
      next->open(path_);
    } catch (const std::exception& e) {
      return e.what();
    }
    std::lock_guard lock(mutex_);
    file_->flush();
    file_.swap(next);
    return "";
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_->write(formatted);
  }
  void flush_() override { file_->flush(); }

 private:
  std::string path_;
  std::unique_ptr<spdlog::details::file_helper> file_;
};

AccessLogFormat parse_access_log_format(std::string_view name) {
  if (name == "plextap") return AccessLogFormat::plextap;
  if (name == "combined") return AccessLogFormat::combined;
  if (name == "json") return AccessLogFormat::json;
  throw std::invalid_argument("unknown access log format " + std::string(name) +
                              " (plextap, combined or json)");
}

std::string client_product(std::string_view header_product, std::string_view target,
                           std::string_view user_agent) {
  if (!header_product.empty()) return std::string(header_product);
  constexpr std::string_view kName = "x-plex-product";
  const auto q = target.find('?');
  if (q != std::string_view::npos) {
    std::string_view query = target.substr(q + 1);
    query = query.substr(0, query.find('#'));
    while (!query.empty()) {
      const auto amp = query.find('&');
      const std::string_view piece = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
      const auto eq = piece.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string name = base::percent_decode(piece.substr(0, eq), base::Plus::space);
      const bool same = name.size() == kName.size() &&
                        std::equal(name.begin(), name.end(), kName.begin(), [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) == b;
                        });
      if (same) {
        std::string value = base::percent_decode(piece.substr(eq + 1), base::Plus::space);
        if (!value.empty()) return value;
      }
    }
  }
  return std::string(user_agent);
}

AccessLog::AccessLog(const std::string& destination, AccessLogFormat format) : format_(format) {
  if (destination.empty()) return;
  // Dropping the oldest line beats blocking an I/O thread when the disk is slow.
  spdlog::init_thread_pool(8192, 1);
  spdlog::sink_ptr sink;
  if (destination == "-") {
    sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  } else {
    file_ = std::make_shared<ReopenableSink>(destination);
    sink = file_;
  }
  logger_ = std::make_shared<spdlog::async_logger>("access", sink, spdlog::thread_pool(),
                                                   spdlog::async_overflow_policy::overrun_oldest);
  logger_->set_pattern("%v");
  logger_->flush_on(spdlog::level::info);
}

AccessLog::~AccessLog() {
  flush();
}

void AccessLog::flush() {
  if (logger_) logger_->flush();
}

std::string AccessLog::reopen() {
  if (!file_) return "";
  return file_->reopen();
}

std::string utc_timestamp(std::chrono::system_clock::time_point t) {
  return base::rfc3339_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

namespace {

// nginx's $time_local, in UTC: 02/Dec/2026:13:50:36 +0000 (month names in English, as
// every parser of the format expects, whatever the locale).
std::string combined_time(std::chrono::system_clock::time_point t) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  return fmt::format("{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000", tm.tm_mday, kMonths[tm.tm_mon % 12],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string escaped(std::string_view v) {
  std::string e;
  append_log_escaped(e, v);
  return e;
}

// nginx writes "-" for an empty field.
std::string escaped_or_dash(std::string_view v) {
  return v.empty() ? "-" : escaped(v);
}

}  // namespace

void AccessLog::write(const AccessRecord& r) {
  if (!logger_) return;
  std::string target = capture::redact_target(r.target);
  std::string line;
  line.reserve(160 + target.size());
  const auto now = std::chrono::system_clock::now();
  const double ms = static_cast<double>(r.took.count()) / 1000.0;
  if (format_ == AccessLogFormat::json) {
    line += fmt::format("{{\"ts\":\"{}\",\"remote\":\"", utc_timestamp(now));
    base::append_json_escaped(line, r.remote);
    line += "\",\"method\":\"";
    base::append_json_escaped(line, r.method);
    line += "\",\"target\":\"";
    base::append_json_escaped(line, target);
    line += "\",\"product\":\"";
    base::append_json_escaped(line, r.product);
    line += "\",\"referer\":\"";
    base::append_json_escaped(line, capture::redact_target(r.referer));
    line += "\",\"user_agent\":\"";
    base::append_json_escaped(line, r.user_agent);
    line +=
        fmt::format("\",\"status\":{},\"bytes\":{},\"ms\":{:.3f}}}", r.status, r.bytes_sent, ms);
  } else if (format_ == AccessLogFormat::combined) {
    // $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    // "$http_referer" "$http_user_agent"
    const std::string request =
        r.method == "-" ? std::string("-")
                        : escaped(r.method) + " " + escaped(target) +
                              fmt::format(" HTTP/{}.{}", r.version / 10, r.version % 10);
    line = fmt::format("{} - - [{}] \"{}\" {} {} \"{}\" \"{}\"", escaped(r.remote),
                       combined_time(now), request, r.status, r.bytes_sent,
                       escaped_or_dash(capture::redact_target(r.referer)),
                       escaped_or_dash(r.user_agent));
  } else {
    // Every field escaped, so that none can hold a quote or end the line.
    line = fmt::format("{} {} \"{} {}\" {} {} {:.3f}ms \"{}\"", escaped(r.remote),
                       utc_timestamp(now), escaped(r.method), escaped(target), r.status,
                       r.bytes_sent, ms, escaped(r.product));
  }
  logger_->info(line);
}

}  // namespace plextap::proxy
