// What `replay send` tells: one JSON line per re-sent request (--report FILE|-), and the
// summary a person reads: counts, latency percentiles then and now, the first 50
// differences, and SAME or DIFFERENT.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "replay/resender.hpp"

namespace plextap::replay {

class ResendReport {
 public:
  // `lines`: where the JSON lines go; null writes none.
  explicit ResendReport(std::FILE* lines) : lines_(lines) {}

  // One answer (on the thread that runs resend()).
  void add(const ResendResult& result);
  // The summary of the run against `target`.
  void print_summary(std::FILE* out, const ResendSummary& summary, const std::string& target);

  static constexpr std::size_t kDifferencesShown = 50;

 private:
  std::FILE* lines_;
  std::vector<double> then_ms_, now_ms_;
  std::vector<std::string> differences_;
};

}  // namespace plextap::replay
