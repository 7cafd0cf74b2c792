// What the server says of itself (DESIGN section 10), read into server events
// (capture::ServerEvent): the notification websocket's messages, /status/sessions snapshots
// and /statistics/resources samples. Pure: bytes and the moment plextap saw them in, events
// out; XML and JSON answers give the same fields. Values are read leniently (numbers as
// numbers or strings, flags as booleans, numbers or "1").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/event.hpp"

namespace plextap::enrich {

struct NotificationParse {
  enum class Outcome : std::uint8_t { kept, unknown, malformed };
  Outcome outcome = Outcome::malformed;
  std::string type;  // NotificationContainer.type ("" when malformed)
  std::vector<capture::ServerEvent> events;
};

// One websocket message, {"NotificationContainer":{"type":…,…}}: one event (kind
// notification, op = the type) per entry of the type's array. Kept types and their fields:
//   playing (PlaySessionStateNotification; client.id, rating_key):
//     "type","session_key","key","state","time_ms","play_queue_item_id","transcode_session"
//   timeline (TimelineEntry; rating_key = itemID):
//     "type","section_id","item_id","item_type","title","state","updated_at"
//   activity (ActivityNotification):
//     "type","event","uuid","activity_type","title","subtitle","progress","user_id"
//   transcodeSession.update (TranscodeSession):
//     "type","transcode_key","video_decision","audio_decision","speed","throttled",
//     "progress","hw_requested","hw_full_pipeline"
//   status (StatusNotification): "type","title","description","notification_name"
// Another type is `unknown`; what is not such a JSON object is `malformed`; neither has
// events.
NotificationParse parse_notification(std::string_view message, std::int64_t ts_ms);
bool is_kept_notification(std::string_view type);

// A /status/sessions answer: one event (kind session, op "snapshot") per playing item that
// names its player. client: Player's machineIdentifier, product, version, platform,
// platformVersion, device, title (device_name), model; client_more "address",
// "public_address", "local", "relayed", "secure"; user_more "account_id", "name"; fields
//   "session_key","session_id","state","time_ms","duration_ms","bandwidth_kbps","location",
//   "chosen_media_id","video_resolution","hdr",
//   "video_decision","audio_decision","speed","throttled","hw_decode","hw_encode"
// (the last six null without a TranscodeSession). `error` says why a body could not be read.
struct SessionsParse {
  std::vector<capture::ServerEvent> events;
  std::vector<std::string> session_keys;  // of every item, in order
  std::string error;
};
SessionsParse parse_sessions(std::string_view body, std::int64_t ts_ms);

// A /statistics/resources answer: the latest StatisticsResources row as one event (kind
// resources, op "sample") with "host_cpu_pct","process_cpu_pct","host_memory_pct",
// "process_memory_pct","sampled_at" (RFC 3339) and "transcoder_active_video_sessions"
// (given: from the server root; null when unknown). nullopt when there is no row.
std::optional<capture::ServerEvent> parse_resources(
    std::string_view body, std::optional<std::int64_t> transcoder_active_video_sessions,
    std::int64_t ts_ms);

// The server root `/`'s transcoderActiveVideoSessions; nullopt when it does not say.
std::optional<std::int64_t> parse_transcoder_active(std::string_view root_body);

}  // namespace plextap::enrich
