// What `replay send` compares between the recorded answer and today's: the event fields
// of DESIGN section 5 that describe the call and its answer. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/exchange.hpp"

namespace plextap::replay {

struct FieldDiff {
  std::string field;  // dotted: "result_count", "video.decision"
  std::string then;   // JSON text, or "absent"
  std::string now;
};

// Fields of two event records (JSON objects as the store keeps them) that differ. Fields
// that differ between any two runs by nature are not compared: id, ts, latency_ms,
// status (reported on its own), remote_addr, user, client, params, media. Objects are
// compared member by member; arrays and scalars as a whole.
std::vector<FieldDiff> diff_event_fields(std::string_view then_json, std::string_view now_json);

// The event record the recorder would store for `exchange`, or null when the request is
// of no tapped kind. Used on both sides of a comparison, so recorded and new answers are
// read by the same parsers.
std::optional<std::string> event_fields(const capture::Exchange& exchange);

}  // namespace plextap::replay
