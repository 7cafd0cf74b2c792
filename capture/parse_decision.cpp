// Transcode decisions: the playback options asked for and what the server decided, overall
// and per stream of the chosen media version.
#include "capture/parse.hpp"
#include "capture/parse_doc.hpp"

namespace plextap::capture::detail {
namespace {

// The element marked selected, else the first; a decision answer normally holds only the
// chosen Media and Part, but a server may list more.
Node chosen(const std::vector<Node>& nodes) {
  for (const Node& n : nodes)
    if (to_bool(n.get("selected")).value_or(false)) return n;
  return nodes.empty() ? Node{} : nodes.front();
}

// The stream of one type the decision applies to: the selected one, else the first that
// carries a decision (video: the first of its type, as only one is ever played).
Node stream_of_type(const std::vector<Node>& streams, std::int64_t type) {
  Node with_decision;
  for (const Node& s : streams) {
    if (to_int(s.get("streamType")) != type) continue;
    if (type == 1 || to_bool(s.get("selected")).value_or(false)) return s;
    if (!with_decision && s.get("decision").present()) with_decision = s;
  }
  return with_decision;
}

void put_decision_code(JsonWriter& out, std::string_view key, const Node& c, const char* code,
                       const char* text) {
  out.key(key);
  out.begin_object();
  put_number(out, "code", c.get(code));
  put_string(out, "text", c.get(text));
  out.end_object();
}

// Null when the answer has no such stream: an absent element reads as a Node of neither
// format, and JSON answers leave the stream out the same way XML ones do, so both give null
// rather than an object of nulls.
void put_stream(JsonWriter& out, std::string_view key, const Node& s, std::int64_t type) {
  if (!s) return put_null(out, key);
  out.key(key);
  out.begin_object();
  put_string(out, "decision", s.get("decision"));
  put_string(out, "codec", s.get("codec"));
  put_string(out, "location", s.get("location"));
  if (type != 3) put_number(out, "bitrate", s.get("bitrate"));
  if (type == 1) {
    put_number(out, "width", s.get("width"));
    put_number(out, "height", s.get("height"));
  }
  if (type == 2) put_number(out, "channels", s.get("channels"));
  if (type != 1) put_string(out, "language_code", s.get("languageCode"));
  out.end_object();
}

}  // namespace

void put_playback_request(const Request& req, JsonWriter& out) {
  const auto& p = req.params;
  put_string(out, "protocol", param(p, "protocol"));
  put_bool(out, "direct_play", param(p, "directPlay"));
  put_bool(out, "direct_stream", param(p, "directStream"));
  put_number(out, "media_index", param(p, "mediaIndex"));
  put_number(out, "part_index", param(p, "partIndex"));
  put_number(out, "max_video_bitrate", first_param(p, {"maxVideoBitrate", "videoBitrate"}));
  put_string(out, "video_resolution", param(p, "videoResolution"));
  // Clients name the transcode session `session`, the spec `transcodeSessionId`; some send
  // only the playback session header, which the server then uses.
  Scalar session = first_param(p, {"session", "transcodeSessionId"});
  put_string(out, "session", session.present() ? session : text_scalar(req.client_session));
  put_string(out, "location", param(p, "location"));
}

std::string parse_decision(const Request& req, const Node& c, JsonWriter& out) {
  put_playback_request(req, out);

  put_decision_code(out, "general_decision", c, "generalDecisionCode", "generalDecisionText");
  put_decision_code(out, "direct_play_decision", c, "directPlayDecisionCode",
                    "directPlayDecisionText");
  put_decision_code(out, "transcode_decision", c, "transcodeDecisionCode", "transcodeDecisionText");
  put_decision_code(out, "mde_decision", c, "mdeDecisionCode", "mdeDecisionText");

  Node item = c.first_child(kItemNames);
  Node media = chosen(item.children({"Media"}));
  Node part = chosen(media.children({"Part"}));
  auto streams = part.children({"Stream"});
  put_stream(out, "video", stream_of_type(streams, 1), 1);
  put_stream(out, "audio", stream_of_type(streams, 2), 2);
  put_stream(out, "subtitle", stream_of_type(streams, 3), 3);
  // directplay / transcode; "transcode" with a video stream "copy" is a remux.
  put_string(out, "part_decision", part.get("decision"));
  put_id(out, "chosen_media_id", media.get("id"));

  if (const std::string* path = find_param(req.params, "path"))
    if (auto rk = rating_key_from(*path); !rk.empty()) return rk;
  return to_text(item.get("ratingKey"));
}

}  // namespace plextap::capture::detail
