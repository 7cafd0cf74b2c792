// Helpers for the command line: durations, logging set-up, the errors it reports.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

namespace plextap::app {

// A usage error: reported as one line on stderr, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "500ms", "30s", "2m", "1h", or a bare number of seconds.
std::chrono::milliseconds parse_duration(const std::string& text);

// Process log on stderr, as text or one JSON object per line.
void setup_logging(bool json);

}  // namespace plextap::app
