// Server events: notification messages, session snapshots and resource samples, each read
// through the XML/JSON view of capture/parse_doc so that both formats agree.
#include "enrich/server_events.hpp"

#include <array>
#include <cmath>

#include "base/json_writer.hpp"
#include "base/time.hpp"
#include "capture/parse_doc.hpp"
#include "enrich/dynamic_range.hpp"

namespace plextap::enrich {
namespace {

using base::JsonWriter;
using capture::Kind;
using capture::ServerEvent;
using capture::detail::Node;
using capture::detail::put_bool;
using capture::detail::put_id;
using capture::detail::put_number;
using capture::detail::put_string;
using capture::detail::Scalar;
using capture::detail::to_bool;
using capture::detail::to_double;
using capture::detail::to_int;
using capture::detail::to_text;

// Seconds since the epoch (integral or not) as an RFC 3339 timestamp; null when absent.
void put_epoch_seconds(JsonWriter& out, std::string_view key, const Scalar& v) {
  out.key(key);
  auto seconds = to_double(v);
  if (seconds && std::isfinite(*seconds) && std::fabs(*seconds) < 1e15)
    out.string(base::rfc3339_ms(static_cast<std::int64_t>(std::llround(*seconds * 1000))));
  else
    out.null();
}

ServerEvent event_of(Kind kind, std::string_view op, std::int64_t ts_ms) {
  ServerEvent e;
  e.kind = kind;
  e.ts_ms = ts_ms;
  e.op = std::string(op);
  return e;
}

// ---- notifications -----------------------------------------------------------------------

using EntryWriter = void (*)(const Node& entry, ServerEvent& event, JsonWriter& out);

void write_playing(const Node& n, ServerEvent& e, JsonWriter& out) {
  e.client.id = to_text(n.get("clientIdentifier"));
  e.rating_key = to_text(n.get("ratingKey"));
  put_string(out, "session_key", n.get("sessionKey"));
  put_string(out, "key", n.get("key"));
  put_string(out, "state", n.get("state"));
  put_number(out, "time_ms", n.get("viewOffset"));
  put_number(out, "play_queue_item_id", n.get("playQueueItemID"));
  put_string(out, "transcode_session", n.get("transcodeSession"));
}

// A library item changed (added, scanned, deleted): not a play, so the event names no
// rating key of its own, and a scan of a large library sends enrichment no flood of work.
void write_timeline(const Node& n, ServerEvent&, JsonWriter& out) {
  put_id(out, "section_id", n.get("sectionID"));
  put_id(out, "item_id", n.get("itemID"));
  put_number(out, "item_type", n.get("type"));
  put_string(out, "title", n.get("title"));
  put_number(out, "state", n.get("state"));
  put_epoch_seconds(out, "updated_at", n.get("updatedAt"));
}

void write_activity(const Node& n, ServerEvent&, JsonWriter& out) {
  Node activity = n.first_child({"Activity"});
  auto of_activity = [&](const char* name) { return activity ? activity.get(name) : Scalar{}; };
  put_string(out, "event", n.get("event"));
  Scalar uuid = n.get("uuid");
  put_string(out, "uuid", uuid.present() ? uuid : of_activity("uuid"));
  put_string(out, "activity_type", of_activity("type"));
  put_string(out, "title", of_activity("title"));
  put_string(out, "subtitle", of_activity("subtitle"));
  put_number(out, "progress", of_activity("progress"));
  put_id(out, "user_id", of_activity("userID"));
}

void write_transcode_update(const Node& n, ServerEvent&, JsonWriter& out) {
  put_string(out, "transcode_key", n.get("key"));
  put_string(out, "video_decision", n.get("videoDecision"));
  put_string(out, "audio_decision", n.get("audioDecision"));
  put_number(out, "speed", n.get("speed"));
  put_bool(out, "throttled", n.get("throttled"));
  put_number(out, "progress", n.get("progress"));
  put_bool(out, "hw_requested", n.get("transcodeHwRequested"));
  put_bool(out, "hw_full_pipeline", n.get("transcodeHwFullPipeline"));
}

void write_status(const Node& n, ServerEvent&, JsonWriter& out) {
  put_string(out, "title", n.get("title"));
  put_string(out, "description", n.get("description"));
  put_string(out, "notification_name", n.get("notificationName"));
}

struct KeptType {
  std::string_view type;
  const char* array;
  EntryWriter write;
};

constexpr std::array<KeptType, 5> kKept{{
    {"playing", "PlaySessionStateNotification", write_playing},
    {"timeline", "TimelineEntry", write_timeline},
    {"activity", "ActivityNotification", write_activity},
    {"transcodeSession.update", "TranscodeSession", write_transcode_update},
    {"status", "StatusNotification", write_status},
}};

const KeptType* kept(std::string_view type) {
  for (const auto& k : kKept)
    if (k.type == type) return &k;
  return nullptr;
}

}  // namespace

bool is_kept_notification(std::string_view type) {
  return kept(type) != nullptr;
}

NotificationParse parse_notification(std::string_view message, std::int64_t ts_ms) {
  NotificationParse result;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(message.data(), message.size()).get(root) != simdjson::SUCCESS) return result;
  simdjson::dom::object container;
  if (root["NotificationContainer"].get(container) != simdjson::SUCCESS) return result;
  Node node(container);
  Scalar type = node.get("type");
  if (type.type != Scalar::Type::string) return result;
  result.type = std::string(type.text);
  const KeptType* k = kept(type.text);
  if (!k) {
    result.outcome = NotificationParse::Outcome::unknown;
    return result;
  }
  result.outcome = NotificationParse::Outcome::kept;
  for (const Node& entry : node.children({k->array})) {
    ServerEvent e = event_of(Kind::notification, k->type, ts_ms);
    JsonWriter out(e.fields);
    out.key("type");
    out.string(k->type);
    k->write(entry, e, out);
    result.events.push_back(std::move(e));
  }
  return result;
}

// ---- sessions ----------------------------------------------------------------------------

namespace {

// The selected Media of an item, else its first; null when it has none.
Node chosen_media(const Node& item) {
  auto media = item.children({"Media"});
  for (const Node& m : media)
    if (to_bool(m.get("selected")).value_or(false)) return m;
  return media.empty() ? Node{} : media.front();
}

void write_client(const Node& player, ServerEvent& e) {
  auto& c = e.client;
  c.id = to_text(player.get("machineIdentifier"));
  c.product = to_text(player.get("product"));
  c.version = to_text(player.get("version"));
  c.platform = to_text(player.get("platform"));
  c.platform_version = to_text(player.get("platformVersion"));
  c.device = to_text(player.get("device"));
  c.device_name = to_text(player.get("title"));
  c.model = to_text(player.get("model"));
  JsonWriter more(e.client_more);
  put_string(more, "address", player.get("address"));
  put_string(more, "public_address", player.get("remotePublicAddress"));
  put_bool(more, "local", player.get("local"));
  put_bool(more, "relayed", player.get("relayed"));
  put_bool(more, "secure", player.get("secure"));
}

void write_session_fields(const Node& item, const Node& player, JsonWriter& out) {
  Node session = item.first_child({"Session"});
  auto of_session = [&](const char* name) { return session ? session.get(name) : Scalar{}; };
  put_string(out, "session_key", item.get("sessionKey"));
  put_string(out, "session_id", of_session("id"));
  put_string(out, "state", player.get("state"));
  put_number(out, "time_ms", item.get("viewOffset"));
  put_number(out, "duration_ms", item.get("duration"));
  put_number(out, "bandwidth_kbps", of_session("bandwidth"));
  put_string(out, "location", of_session("location"));
  Node media = chosen_media(item);
  auto of_media = [&](const char* name) { return media ? media.get(name) : Scalar{}; };
  put_id(out, "chosen_media_id", of_media("id"));
  put_string(out, "video_resolution", of_media("videoResolution"));
  out.key("hdr");
  if (const char* hdr = media ? dynamic_range(video_stream(media)).hdr : nullptr)
    out.string(hdr);
  else
    out.null();
  Node t = item.first_child({"TranscodeSession"});
  auto of_transcode = [&](const char* name) { return t ? t.get(name) : Scalar{}; };
  put_string(out, "video_decision", of_transcode("videoDecision"));
  put_string(out, "audio_decision", of_transcode("audioDecision"));
  put_number(out, "speed", of_transcode("speed"));
  put_bool(out, "throttled", of_transcode("throttled"));
  put_string(out, "hw_decode", of_transcode("transcodeHwDecoding"));
  put_string(out, "hw_encode", of_transcode("transcodeHwEncoding"));
}

}  // namespace

SessionsParse parse_sessions(std::string_view body, std::int64_t ts_ms) {
  SessionsParse result;
  capture::detail::Document doc(200, {}, body);
  if (!doc.container()) {
    result.error = doc.error().empty() ? "empty answer" : doc.error();
    return result;
  }
  for (const Node& item : doc.container().children(capture::detail::kItemNames)) {
    std::string session_key = to_text(item.get("sessionKey"));
    if (!session_key.empty()) result.session_keys.push_back(session_key);
    Node player = item.first_child({"Player"});
    if (!player) continue;
    ServerEvent e = event_of(Kind::session, "snapshot", ts_ms);
    write_client(player, e);
    if (Node user = item.first_child({"User"})) {
      JsonWriter more(e.user_more);
      put_id(more, "account_id", user.get("id"));
      put_string(more, "name", user.get("title"));
    }
    e.rating_key = to_text(item.get("ratingKey"));
    JsonWriter out(e.fields);
    write_session_fields(item, player, out);
    result.events.push_back(std::move(e));
  }
  return result;
}

// ---- resources ---------------------------------------------------------------------------

std::optional<ServerEvent> parse_resources(std::string_view body,
                                           std::optional<std::int64_t> transcoder_active,
                                           std::int64_t ts_ms) {
  capture::detail::Document doc(200, {}, body);
  if (!doc.container()) return std::nullopt;
  Node latest;
  double latest_at = 0;
  for (const Node& row : doc.container().children({"StatisticsResources"})) {
    double at = to_double(row.get("at")).value_or(0);
    if (!latest || at >= latest_at) {
      latest = row;
      latest_at = at;
    }
  }
  if (!latest) return std::nullopt;
  ServerEvent e = event_of(Kind::resources, "sample", ts_ms);
  JsonWriter out(e.fields);
  put_number(out, "host_cpu_pct", latest.get("hostCpuUtilization"));
  put_number(out, "process_cpu_pct", latest.get("processCpuUtilization"));
  put_number(out, "host_memory_pct", latest.get("hostMemoryUtilization"));
  put_number(out, "process_memory_pct", latest.get("processMemoryUtilization"));
  put_epoch_seconds(out, "sampled_at", latest.get("at"));
  out.key("transcoder_active_video_sessions");
  if (transcoder_active)
    out.int64(*transcoder_active);
  else
    out.null();
  return e;
}

std::optional<std::int64_t> parse_transcoder_active(std::string_view root_body) {
  capture::detail::Document doc(200, {}, root_body);
  if (!doc.container()) return std::nullopt;
  return to_int(doc.container().get("transcoderActiveVideoSessions"));
}

}  // namespace plextap::enrich
