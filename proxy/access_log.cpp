#include "proxy/access_log.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "base/json_writer.hpp"
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

AccessLog::AccessLog(const std::string& destination, bool json) : json_(json) {
  if (destination.empty()) return;
  // Dropping the oldest line beats blocking an I/O thread when the disk is slow.
  spdlog::init_thread_pool(8192, 1);
  spdlog::sink_ptr sink;
  if (destination == "-")
    sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  else
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(destination);
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

std::string utc_timestamp(std::chrono::system_clock::time_point t) {
  return base::rfc3339_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

void AccessLog::write(const AccessRecord& r) {
  if (!logger_) return;
  std::string target = capture::redact_target(r.target);
  std::string line;
  line.reserve(160 + target.size());
  auto now = utc_timestamp(std::chrono::system_clock::now());
  if (json_) {
    line += fmt::format("{{\"ts\":\"{}\",\"remote\":\"", now);
    base::append_json_escaped(line, r.remote);
    line += "\",\"method\":\"";
    base::append_json_escaped(line, r.method);
    line += "\",\"target\":\"";
    base::append_json_escaped(line, target);
    line += "\",\"product\":\"";
    base::append_json_escaped(line, r.product);
    line += fmt::format("\",\"status\":{},\"bytes\":{},\"ms\":{:.3f}}}", r.status, r.bytes_sent,
                        static_cast<double>(r.took.count()) / 1000.0);
  } else {
    // Every field escaped, so that none can hold a quote or end the line.
    auto escaped = [](std::string_view v) {
      std::string e;
      append_log_escaped(e, v);
      return e;
    };
    line = fmt::format("{} {} \"{} {}\" {} {} {:.3f}ms \"{}\"", escaped(r.remote), now,
                       escaped(r.method), escaped(target), r.status, r.bytes_sent,
                       static_cast<double>(r.took.count()) / 1000.0, escaped(r.product));
  }
  logger_->info(line);
}

}  // namespace plextap::proxy
