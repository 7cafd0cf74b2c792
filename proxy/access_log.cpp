#include "proxy/access_log.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>

#include "capture/redact.hpp"
#include "capture/time_format.hpp"

namespace plextap::proxy {

void append_json_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
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
  return capture::rfc3339_ms(
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
    append_json_escaped(line, r.remote);
    line += "\",\"method\":\"";
    append_json_escaped(line, r.method);
    line += "\",\"target\":\"";
    append_json_escaped(line, target);
    line += "\",\"product\":\"";
    append_json_escaped(line, r.product);
    line += fmt::format("\",\"status\":{},\"bytes\":{},\"ms\":{:.3f}}}", r.status, r.bytes_sent,
                        static_cast<double>(r.took.count()) / 1000.0);
  } else {
    line = fmt::format("{} {} \"{} {}\" {} {} {:.3f}ms \"{}\"", r.remote, now, r.method, target,
                       r.status, r.bytes_sent, static_cast<double>(r.took.count()) / 1000.0,
                       r.product);
  }
  logger_->info(line);
}

}  // namespace plextap::proxy
