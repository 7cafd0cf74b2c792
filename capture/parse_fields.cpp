// Entry point of the event parsers, and the kinds read from the request alone: timeline
// (plus its termination answer), scrobble, unscrobble, rate and transcode.
#include <optional>

#include "capture/parse.hpp"
#include "capture/parse_doc.hpp"

namespace plextap::capture {
namespace detail {
namespace {

// Rating key named by a `key` parameter: a path or URI holding /library/metadata/{id}, or a
// bare key (/:/progress, scrobble, rate).
std::string rating_key_param(std::span<const Param> params) {
  if (const std::string* key = find_param(params, "key")) return rating_key_from(*key);
  return {};
}

}  // namespace

std::string parse_timeline(const Request& req, const Node& container, JsonWriter& out) {
  put_string(out, "state", param(req.params, "state"));
  put_number(out, "time_ms", param(req.params, "time"));
  put_number(out, "duration_ms", param(req.params, "duration"));
  put_id(out, "play_queue_item_id", param(req.params, "playQueueItemID"));
  put_string(out, "key", param(req.params, "key"));
  // Set when the server ended the session (admin kill, 2006): the only thing a timeline
  // answer says.
  put_number(out, "termination_code", container.get("terminationCode"));
  put_string(out, "termination_text", container.get("terminationText"));

  if (const std::string* rk = find_param(req.params, "ratingKey"); rk && !rk->empty()) return *rk;
  return rating_key_param(req.params);
}

std::string parse_transcode(const Request& req, JsonWriter& out) {
  put_playback_request(req, out);
  if (req.op != "start") return {};
  if (const std::string* path = find_param(req.params, "path")) return rating_key_from(*path);
  return {};
}

}  // namespace detail

std::string rating_key_from(std::string_view key_or_uri) {
  constexpr std::string_view kMarker = "library/metadata/";
  std::string decoded;
  std::string_view s = key_or_uri;
  // URIs nest keys percent-encoded once (library://…/item/%2Flibrary…) or twice.
  for (int round = 0; round < 3; ++round) {
    if (auto at = s.find(kMarker); at != std::string_view::npos) {
      auto id = s.substr(at + kMarker.size());
      return std::string(id.substr(0, id.find_first_of("/?&#,% ")));
    }
    if (s.find('%') == std::string_view::npos) break;
    decoded = decode_component(s);
    s = decoded;
  }
  if (!key_or_uri.empty() && key_or_uri.find('/') == std::string_view::npos &&
      key_or_uri.find(':') == std::string_view::npos)
    return std::string(key_or_uri);
  return {};
}

ParseResult parse_fields(const Route& route, std::string_view path, std::span<const Param> params,
                         unsigned status, std::string_view content_type, std::string_view body,
                         JsonWriter& out, std::string_view client_session) {
  using namespace detail;
  ParseResult result;
  Request req{route.op, path, params, client_session};

  // Only kinds with response fields read the body; the rest never report a parse error.
  std::optional<Document> doc;
  auto response = [&]() -> const Node& {
    doc.emplace(status, content_type, body);
    result.parse_error = doc->error();
    return doc->container();
  };

  switch (route.kind) {
    case Kind::timeline:
      result.rating_key = parse_timeline(req, response(), out);
      break;
    case Kind::scrobble:
    case Kind::unscrobble:
      put_string(out, "identifier", param(params, "identifier"));
      if (const std::string* key = find_param(params, "key"); key && !key->empty())
        result.rating_key = rating_key_from(*key);
      else if (const std::string* uri = find_param(params, "uri"))
        result.rating_key = rating_key_from(*uri);
      break;
    case Kind::rate:
      put_number(out, "rating", param(params, "rating"));
      if (const std::string* key = find_param(params, "key"))
        result.rating_key = rating_key_from(*key);
      break;
    case Kind::playqueue:
      result.rating_key = parse_playqueue(req, response(), out);
      break;
    case Kind::decision:
      result.rating_key = parse_decision(req, response(), out);
      break;
    case Kind::transcode:
      result.rating_key = parse_transcode(req, out);
      break;
    case Kind::search:
      parse_search(req, response(), out);
      break;
    case Kind::other:
    // The server's side is never a request classify() routes.
    case Kind::notification:
    case Kind::session:
    case Kind::resources:
      break;
  }
  return result;
}

}  // namespace plextap::capture
