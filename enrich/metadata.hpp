// Reads the server's answer to GET /library/metadata/{ratingKey} (the enrichment fetch,
// DESIGN.md section 6) into the `media` object stored per rating key, plus the few values
// play reconstruction needs typed. Pure: bytes in, values out; JSON and XML answers give the
// same object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/enrichment_record.hpp"

namespace plextap::enrich {

using capture::Marker;

struct MediaParse {
  // The `media` object: every key present, null or [] when the answer does not say
  // (keys and shapes in parse_metadata below). Empty when `error` is set.
  std::string media_json;
  std::string error;  // why the body could not be read; empty = ok
  // The same markers as in media_json, sorted by start (the server does not sort them).
  std::vector<Marker> markers;
  std::optional<std::int64_t> duration_ms;
  std::string type;  // "movie", "episode", "track", …; empty when the item has none
};

// At most this many entries are kept per list (roles, chapters, …), so one pathological
// answer cannot make a huge record; real items stay far below it.
inline constexpr std::size_t kMaxMetadataList = 200;

// `body` is the (decoded) answer of
// /library/metadata/{key}?includeGuids=1&includeMarkers=1&includeChapters=1, JSON
// (Accept: application/json) or XML; the format is told by the first non-blank byte. The
// first item of the MediaContainer is the item. Values are read leniently: numbers may come
// as strings, flags as booleans, numbers or "1"/"0".
//
// media_json keys, in this order:
//   type, title, year, grandparent_title, parent_title, parent_index, index, duration_ms
//     (the item's `duration`, else its first version's),
//   library_section_id, library_section_title (the item's, else the container's),
//   guids {imdb "tt…", tmdb "…", tvdb "…", plex "plex://…"}: bare ids (strings) from the
//     Guid children, the item's own `guid` when it is plex://; a legacy agent guid
//     (com.plexapp.agents.imdb://tt…?lang=en) fills its provider when no Guid child does,
//   genres ["tag"], directors and writers [{id, tag}] (id: the server's tag id, which tells
//     apart people of the same name), roles [{id, tag, role}],
//   ratings [{type, value, image}], content_rating, studio,
//   view_count, skip_count (0 when absent: the server omits them at zero),
//   last_viewed_at (RFC 3339 UTC with milliseconds, like every plextap timestamp),
//   versions: one per Media {id, video_resolution, video_codec, bitrate (kbps), container,
//     hdr ("dolby_vision" | "hdr10" | "hlg" | null = SDR or not known), dovi_profile (when
//     Dolby Vision), audio_codec, audio_channels, size (bytes, sum of its parts)},
//   markers [{type, start_ms, end_ms}] for intro, credits and commercial, sorted by start,
//   chapters [{index, tag, start_ms, end_ms}] sorted by start.
// A body that is empty, not XML or JSON, HTML, or a MediaContainer without an item sets
// `error` and leaves everything else empty.
MediaParse parse_metadata(std::string_view body);

}  // namespace plextap::enrich
