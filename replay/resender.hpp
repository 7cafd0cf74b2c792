// `plextap replay send`: re-issues recorded requests to a target server with the recorded
// pacing scaled by a speed factor (or as fast as a number of connections allows), puts
// a real token in place of the redacted one, and compares each answer with the recorded
// one: status, latency, and for tapped kinds the event fields that differ.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "replay/diff.hpp"
#include "replay/source.hpp"

namespace plextap::replay {

struct ResendOptions {
  std::string target;                         // http://host:port or https://host:port
  std::optional<std::string> token;           // put in place of the redacted one; none: dropped
  double speed = 1.0;                         // 2: twice as fast as recorded
  bool max_speed = false;                     // ignore the recorded pacing
  unsigned concurrency = 8;                   // connections to the target
  std::string ca_file;                        // for an https target; empty: the system's store
  bool insecure = false;                      // do not verify an https target's certificate
  std::chrono::milliseconds timeout{30'000};  // per request, in all (connect to last byte)
};

struct ResendResult {
  std::uint64_t id = 0;
  std::string kind;  // the tapped kind, or "other"
  std::string method;
  std::string target;                        // as recorded: the token redacted
  unsigned status_then = 0, status_now = 0;  // 0 now: no answer (see error)
  double latency_ms_then = 0, latency_ms_now = 0;
  std::string error;             // why there was no answer
  std::vector<FieldDiff> diffs;  // tapped kinds only
  bool differs() const { return !error.empty() || status_then != status_now || !diffs.empty(); }
};

struct ResendSummary {
  std::uint64_t sent = 0, answered = 0, differ = 0, status_differ = 0, field_differ = 0, errors = 0;
  double seconds = 0;           // wall-clock time of the whole run
  double recorded_seconds = 0;  // time from the first recorded request to the last
};

// Whether `replay send` can re-issue a recorded exchange: it got a final answer (not a
// client that went away or a failed upstream, status 0) and did not open a websocket.
bool resendable(const RecordedExchange& recorded);

// Sends every exchange of `recorded` (already filtered, in recorded order) and calls
// `on_result` for each answer, on the calling thread, in completion order. Throws
// std::invalid_argument for a bad target URL.
ResendSummary resend(const std::vector<RecordedExchange>& recorded, const ResendOptions& options,
                     const std::function<void(const ResendResult&)>& on_result);

}  // namespace plextap::replay
