// What replay works from: recorded exchanges in recorded order, read from a store or
// from a HAR file (ours, a browser's, or another recorder's). Reading is all or
// nothing: a source that is truncated, not HAR, or of an unknown version is refused as a
// whole with one SourceError, so replay never serves half a capture.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "capture/exchange.hpp"

namespace plextap::replay {

struct SourceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct RecordedExchange {
  std::uint64_t id = 0;  // the store id, or the entry's position in a HAR file (1-based)
  capture::Exchange exchange;
  // The response body is decoded already (HAR content is); Content-Encoding, if the
  // headers still name one, describes the original transfer only.
  bool body_decoded = false;
};

struct TimeRange {
  std::optional<std::int64_t> since_ms;  // inclusive
  std::optional<std::int64_t> until_ms;  // exclusive
};

// Every exchange the store under `store_dir` holds (events recorded without one are
// skipped), in id order.
std::vector<RecordedExchange> load_store(const std::filesystem::path& store_dir,
                                         const TimeRange& range = {});

// A HAR file's entries, in the order of their start times (ties keep file order).
std::vector<RecordedExchange> load_har(const std::filesystem::path& file,
                                       const TimeRange& range = {});
// The same from HAR text: a pure function (fuzzed). `name` is used in messages.
std::vector<RecordedExchange> parse_har(std::string_view text, std::string_view name = "HAR");

}  // namespace plextap::replay
