// Decides, from the request line alone, whether a Plex call is one plextap records
// (DESIGN.md section 4) and which operation it is. Called for every request the proxy
// forwards, so it allocates nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace plextap::capture {

enum class Kind : std::uint8_t {
  timeline,
  scrobble,
  unscrobble,
  rate,
  playqueue,
  decision,
  transcode,
  search,
  other,  // never returned by classify(); used by the recorder for `--record all`
  // The server's side (DESIGN section 10): never returned by classify() either.
  notification,  // a message of the server's notification websocket
  session,       // a /status/sessions snapshot of one playing session
  resources,     // a /statistics/resources sample
};
inline constexpr std::size_t kKindCount = 12;

// The kinds of requests that passed through the proxy, as opposed to the server's side.
inline constexpr bool is_proxy_kind(Kind kind) {
  return kind <= Kind::other;
}

std::string_view to_string(Kind kind);
std::optional<Kind> kind_from_string(std::string_view name);

struct Route {
  Kind kind = Kind::other;
  // Operation within the kind: a static string ("create", "start", ...); empty means none
  // (JSON null) — kinds without operations, or a method the API does not define for the path.
  std::string_view op;
};

// `target` is the raw request target (path and query, or absolute form). Paths are matched
// exactly and case-sensitively, segment by segment, so that lookalikes (/:/timelineX,
// /playQueuesX, transcode segments under .../universal/session/...) are not recorded.
// One trailing '/' is tolerated (/hubs/search/ is /hubs/search): the server routes both the
// same way and a recorder that missed them would silently lose events. Percent-encoded
// paths (/%3A/timeline) are not decoded; no real client sends them.
std::optional<Route> classify(std::string_view method, std::string_view target);

}  // namespace plextap::capture
