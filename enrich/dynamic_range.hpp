// How a video stream's dynamic range is named, one rule for every reader of the server's
// answers (metadata versions, session snapshots).
#pragma once

#include <cstdint>
#include <optional>

#include "capture/parse_doc.hpp"

namespace plextap::enrich {

struct DynamicRange {
  const char* hdr = nullptr;  // "dolby_vision" | "hdr10" | "hlg"; null: SDR, or no video stream
  std::optional<std::int64_t> dovi_profile;
};

// Dolby Vision first: profiles 7 and 8.1 also carry a PQ (HDR10) base layer, profile 5 has
// no colorTrc at all. `video` may be null (no video stream): SDR/unknown.
DynamicRange dynamic_range(const capture::detail::Node& video);

// The first video stream (streamType 1) of a Media's parts; null when it has none.
capture::detail::Node video_stream(const capture::detail::Node& media);

}  // namespace plextap::enrich
