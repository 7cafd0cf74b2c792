// Turns one recorded exchange into the kind-specific fields of its event record
// (DESIGN.md section 5). Pure: bytes in, JSON fields out; XML and JSON answers give the
// same fields.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "base/json_writer.hpp"
#include "capture/classify.hpp"
#include "capture/query.hpp"

namespace plextap::capture {

struct ParseResult {
  std::string rating_key;   // the library item the call names; empty = none
  std::string parse_error;  // why the response body could not be read; empty = ok
};

// Caps on arrays copied from a response, so one event stays small.
inline constexpr std::size_t kMaxQueueItems = 1000;
inline constexpr std::size_t kMaxSearchResults = 20;
inline constexpr std::size_t kMaxSearchHubs = 100;

// Appends the fields of `route.kind` as key/value pairs to `out`, which must be inside an
// object the caller opened. Every field of the kind is written, null when unknown, so that
// CSV columns stay stable; Kind::other writes nothing.
//
// `path` and `params` are the request's (path_of / decode_query, token included or not);
// `body` is the response body after decode_body; `content_type` chooses XML or JSON, and
// when it names neither the first non-blank byte does. An empty body is not an error. A body
// that cannot be read, or is not a MediaContainer, sets parse_error and leaves the response
// fields null; the request fields are written regardless. `client_session` is the caller's
// X-Plex-Session-Identifier (ClientInfo::session), the last fallback for a decision's or
// transcode's `session`.
ParseResult parse_fields(const Route& route, std::string_view path, std::span<const Param> params,
                         unsigned status, std::string_view content_type, std::string_view body,
                         base::JsonWriter& out, std::string_view client_session = {});

// The rating key inside a key or URI: "/library/metadata/123" → "123", also inside
// server://…/library/metadata/123 and library://…/item/%2Flibrary%2Fmetadata%2F123. A value
// without any '/' is taken as a bare rating key. Empty when none.
std::string rating_key_from(std::string_view key_or_uri);

}  // namespace plextap::capture
