// Writing a play as one JSON object (the rows of `export plays`), field by field in the
// order DESIGN.md section 7 lists them, then those the server's side adds (section 10), then
// the version and the run (section 11).
#include <charconv>

#include "analytics/plays.hpp"
#include "analytics/row_fields.hpp"

namespace plextap::analytics {

std::string_view to_string(PlayEnd end) {
  switch (end) {
    case PlayEnd::stopped:
      return "stopped";
    case PlayEnd::timeout:
      return "timeout";
    case PlayEnd::next_item:
      return "next_item";
    case PlayEnd::end_of_data:
      return "end_of_data";
  }
  return "end_of_data";
}

void write_play(const Play& p, JsonWriter& out, std::string_view media_json) {
  out.begin_object();
  put_string_or_null(out, "client_id", p.client_id);
  put_string_or_null(out, "rating_key", p.rating_key);
  // A number where the id is one, as in the timeline event records.
  out.key("play_queue_item_id");
  std::int64_t pqi = 0;
  const char* first = p.play_queue_item_id.data();
  const char* last = first + p.play_queue_item_id.size();
  if (p.play_queue_item_id.empty())
    out.null();
  else if (auto [end, ec] = std::from_chars(first, last, pqi); ec == std::errc() && end == last)
    out.int64(pqi);
  else
    out.string(p.play_queue_item_id);
  put_time(out, "started_at", p.started_at_ms);
  put_time(out, "ended_at", p.ended_at_ms);
  out.key("ended_by");
  out.string(to_string(p.ended_by));
  put_optional(out, "duration_ms", p.duration_ms);
  out.key("watched_ms");
  out.int64(p.watched_ms);
  put_optional(out, "max_position_ms", p.max_position_ms);
  put_optional(out, "completion", p.completion);
  out.key("pauses");
  out.uint64(p.pauses);
  out.key("seeks");
  out.uint64(std::uint64_t{p.seeks_forward} + p.seeks_back);
  out.key("seeks_forward");
  out.uint64(p.seeks_forward);
  out.key("seeks_back");
  out.uint64(p.seeks_back);
  put_optional(out, "intro_skipped", p.intro_skipped);
  put_optional(out, "credits_skipped", p.credits_skipped);
  put_optional(out, "stopped_in_credits", p.stopped_in_credits);
  out.key("scrobbled");
  out.boolean(p.scrobbled);

  out.key("decision");
  if (const auto& d = p.decision) {
    out.begin_object();
    put_time(out, "ts", d->ts_ms);
    put_string_or_null(out, "session", d->session);
    put_optional(out, "general_code", d->general_code);
    put_string_or_null(out, "general_text", d->general_text);
    put_optional(out, "direct_play", d->direct_play);
    put_optional(out, "direct_stream", d->direct_stream);
    put_string_or_null(out, "video", d->video);
    put_string_or_null(out, "audio", d->audio);
    out.end_object();
  } else {
    out.null();
  }

  out.key("search");
  if (const auto& s = p.search) {
    out.begin_object();
    out.key("id");  // a string: store ids exceed what JSON readers hold exactly
    out.string(std::to_string(s->id));
    out.key("query");
    out.string(s->query);
    put_optional(out, "result_count", s->result_count);
    put_time(out, "ts", s->ts_ms);
    out.end_object();
  } else {
    out.null();
  }

  out.key("media");
  if (media_json.empty())
    out.null();
  else
    out.raw(media_json);

  // What the server's side adds (section 10), after the fields rows had before it.
  out.key("source");
  out.string(to_string(p.source));
  put_user(out, p.account_id, p.user_name);
  put_string_or_null(out, "location", p.location);
  put_optional(out, "bandwidth_kbps", p.bandwidth_kbps);
  put_string_or_null(out, "player_address", p.player_address);
  // The version played and the run (section 11).
  put_string_or_null(out, "chosen_media_id", p.chosen_media_id);
  put_string_or_null(out, "video_resolution", p.video_resolution);
  put_string_or_null(out, "hdr", p.hdr);
  put_optional(out, "dovi_profile", p.dovi_profile);
  put_string_or_null(out, "run_id", p.run_id);
  out.key("run_index");
  out.uint64(p.run_index);
  out.end_object();
}

}  // namespace plextap::analytics
