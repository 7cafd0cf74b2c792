#include "replay/report.hpp"

#include <algorithm>
#include <cmath>

#include "base/json_writer.hpp"

namespace plextap::replay {
namespace {

void write_report_line(std::FILE* out, const ResendResult& r) {
  std::string line;
  base::JsonWriter w(line);
  w.begin_object();
  w.key("id");
  w.uint64(r.id);
  w.key("kind");
  w.string(r.kind);
  w.key("method");
  w.string(r.method);
  w.key("target");
  w.string(r.target);
  w.key("status_then");
  w.int64(r.status_then);
  w.key("status_now");
  if (r.error.empty())
    w.int64(r.status_now);
  else
    w.null();
  w.key("latency_ms_then");
  w.number(r.latency_ms_then);
  w.key("latency_ms_now");
  if (r.error.empty())
    w.number(r.latency_ms_now);
  else
    w.null();
  w.key("differs");
  w.boolean(r.differs());
  w.key("diff");
  w.begin_array();
  for (const auto& d : r.diffs) {
    w.begin_object();
    w.key("field");
    w.string(d.field);
    w.key("then");
    w.string(d.then);
    w.key("now");
    w.string(d.now);
    w.end_object();
  }
  w.end_array();
  w.key("error");
  if (r.error.empty())
    w.null();
  else
    w.string(r.error);
  w.end_object();
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), out);
}

double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  auto k = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size()))) - 1;
  k = std::min(k, values.size() - 1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

std::string shorten(std::string s, std::size_t max) {
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  return s;
}

}  // namespace

void ResendReport::add(const ResendResult& r) {
  if (lines_) write_report_line(lines_, r);
  then_ms_.push_back(r.latency_ms_then);
  if (r.error.empty()) now_ms_.push_back(r.latency_ms_now);
  if (!r.differs() || differences_.size() >= kDifferencesShown) return;
  std::string line =
      "  #" + std::to_string(r.id) + " " + r.method + " " + shorten(r.target, 100) + "\n    ";
  if (!r.error.empty())
    line += "no answer: " + r.error;
  else if (r.status_then != r.status_now)
    line += "status " + std::to_string(r.status_then) + " -> " + std::to_string(r.status_now);
  else
    line += "status " + std::to_string(r.status_now) + " as recorded";
  for (const auto& d : r.diffs)
    line += "\n    " + d.field + ": " + shorten(d.then, 60) + " -> " + shorten(d.now, 60);
  differences_.push_back(std::move(line));
}

void ResendReport::print_summary(std::FILE* out, const ResendSummary& summary,
                                 const std::string& target) {
  if (lines_) std::fflush(lines_);
  std::fprintf(out, "sent %llu requests to %s in %.2f s (recorded over %.2f s): %.0f/s\n",
               static_cast<unsigned long long>(summary.sent), target.c_str(), summary.seconds,
               summary.recorded_seconds,
               summary.seconds > 0 ? static_cast<double>(summary.sent) / summary.seconds : 0.0);
  std::fprintf(out, "answered %llu, no answer %llu; status differs %llu, fields differ %llu\n",
               static_cast<unsigned long long>(summary.answered),
               static_cast<unsigned long long>(summary.errors),
               static_cast<unsigned long long>(summary.status_differ),
               static_cast<unsigned long long>(summary.field_differ));
  std::fprintf(out, "latency ms, then / now: p50 %.1f / %.1f, p99 %.1f / %.1f\n",
               percentile(then_ms_, 0.5), percentile(now_ms_, 0.5), percentile(then_ms_, 0.99),
               percentile(now_ms_, 0.99));
  if (!differences_.empty()) {
    std::fprintf(out, "differences (%llu%s):\n", static_cast<unsigned long long>(summary.differ),
                 summary.differ > differences_.size() ? ", the first 50 shown" : "");
    for (const auto& d : differences_) std::fprintf(out, "%s\n", d.c_str());
  }
  std::fprintf(out, "%s\n", summary.differ ? "DIFFERENT" : "SAME");
}

}  // namespace plextap::replay
