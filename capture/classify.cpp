// Route table of the recorded Plex calls, written as plain string matching: it runs on the
// request head of every forwarded request, media included.
#include "capture/classify.hpp"

#include <array>

#include "capture/query.hpp"

namespace plextap::capture {
namespace {

constexpr std::array<std::string_view, kKindCount> kKindNames{
    "timeline",  "scrobble", "unscrobble", "rate",         "playqueue", "decision",
    "transcode", "search",   "other",      "notification", "session",   "resources"};

// Splits the first segment off `rest` (which must not start with '/'); `rest` keeps what
// follows that segment, starting at its '/' or empty.
std::string_view take_segment(std::string_view& rest) {
  auto slash = rest.find('/');
  auto segment = rest.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  return segment;
}

// True when the raw query has a parameter named exactly `name` (names in Plex queries are
// plain ASCII, so no decoding is needed).
bool has_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto piece = query.substr(0, amp);
    if (piece.substr(0, piece.find('=')) == name) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

std::optional<Route> play_queue(std::string_view method, std::string_view rest,
                                std::string_view query) {
  constexpr Route kNone{Kind::playqueue, {}};
  if (rest.empty()) return method == "POST" ? Route{Kind::playqueue, "create"} : kNone;
  if (rest.front() != '/') return std::nullopt;  // /playQueuesX
  rest.remove_prefix(1);
  auto id = take_segment(rest);
  if (id.empty()) return std::nullopt;
  if (rest.empty()) {
    if (method == "GET" || method == "HEAD") return Route{Kind::playqueue, "get"};
    if (method == "DELETE") return Route{Kind::playqueue, "delete"};
    if (method == "PUT" && (has_param(query, "uri") || has_param(query, "playlistID")))
      return Route{Kind::playqueue, "add"};
    return kNone;
  }
  if (rest == "/shuffle") return Route{Kind::playqueue, "shuffle"};
  if (rest == "/unshuffle") return Route{Kind::playqueue, "unshuffle"};
  if (rest == "/reset") return Route{Kind::playqueue, "reset"};
  if (rest == "/items") return method == "DELETE" ? Route{Kind::playqueue, "clear"} : kNone;
  if (rest.starts_with("/items/")) {
    rest.remove_prefix(7);
    auto item = take_segment(rest);
    if (item.empty()) return kNone;
    if (rest.empty()) return method == "DELETE" ? Route{Kind::playqueue, "remove"} : kNone;
    if (rest == "/move") return Route{Kind::playqueue, "move"};
  }
  // Other sub-resources of a queue are still queue traffic, just not a known operation.
  return kNone;
}

// /{type}/:/transcode/universal/{name}
std::optional<Route> transcode(std::string_view type, std::string_view name) {
  bool media = type == "video" || type == "music" || type == "audio";
  if (name == "decision" && (media || type == "subtitles")) return Route{Kind::decision, {}};
  if (!media) return std::nullopt;
  // start, start.m3u8, start.mpd, ...: one file name, never a sub-path (segments live
  // under .../universal/session/{id}/...).
  if (name == "start" || (name.starts_with("start.") && name.size() > 6))
    return Route{Kind::transcode, "start"};
  if (name == "ping") return Route{Kind::transcode, "ping"};
  if (name == "stop") return Route{Kind::transcode, "stop"};
  return std::nullopt;
}

}  // namespace

std::string_view to_string(Kind kind) {
  const auto i = static_cast<std::size_t>(kind);
  // A stored kind byte may come from a later version (or a damaged record).
  return i < kKindNames.size() ? kKindNames[i] : std::string_view("unknown");
}

std::optional<Kind> kind_from_string(std::string_view name) {
  for (std::size_t i = 0; i < kKindNames.size(); ++i)
    if (kKindNames[i] == name) return static_cast<Kind>(i);
  return std::nullopt;
}

std::optional<Route> classify(std::string_view method, std::string_view target) {
  std::string_view path = path_of(target);
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path.size() < 2 || path.front() != '/') return std::nullopt;

  if (path.starts_with("/:/")) {
    auto name = path.substr(3);
    if (name == "timeline" || name == "progress") return Route{Kind::timeline, {}};
    if (name == "scrobble") return Route{Kind::scrobble, {}};
    if (name == "unscrobble") return Route{Kind::unscrobble, {}};
    if (name == "rate") return Route{Kind::rate, {}};
    return std::nullopt;
  }
  if (path.starts_with("/playQueues")) return play_queue(method, path.substr(11), query_of(target));
  if (path == "/hubs/search" || path == "/hubs/search/voice") return Route{Kind::search, {}};

  std::string_view rest = path.substr(1);
  auto first = take_segment(rest);
  if (first == "library" && rest.starts_with("/sections/")) {
    rest.remove_prefix(10);
    auto section = take_segment(rest);
    if (!section.empty() && rest == "/search") return Route{Kind::search, {}};
    return std::nullopt;
  }
  constexpr std::string_view kUniversal = "/:/transcode/universal/";
  if (rest.starts_with(kUniversal)) {
    auto name = rest.substr(kUniversal.size());
    if (name.find('/') != std::string_view::npos) return std::nullopt;
    return transcode(first, name);
  }
  return std::nullopt;
}

}  // namespace plextap::capture
