// Session reconstruction for `export plays`. The rules, where DESIGN.md section 7 leaves
// room, are stated next to the code that applies them; the file's header states the model:
//
// - One open session per client. A Plex player plays one item at a time, so a session is
//   the client plus the item it plays: the play-queue item id, or the rating key when the
//   client sends none. Holding the open session on the client keeps every lookup one hash
//   probe and lets an update that lacks one of the two ids still find its session.
// - Time comes only from the events (their `ts`); nothing reads a clock, so an export gives
//   the same rows every time it is run over the same events.
// - Memory: the open sessions, the closed rows still inside their scrobble window, and per
//   recently active client its last few decisions and its last search. Clients idle longer
//   than every window are forgotten.
#include "capture/plays.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <type_traits>
#include <unordered_map>

#include "base/time.hpp"

namespace plextap::capture {
namespace {

// Decisions kept per client: a client asks for the next item's decision while the current
// one plays, so the last one alone can name the wrong item.
constexpr std::size_t kDecisionsPerClient = 4;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

bool may_advance(TimelineState s) {
  return s == TimelineState::playing || s == TimelineState::buffering;
}

// The line a position has to reach to count as past a marker: its end, less the slack, since
// a skip button or a seek lands on a keyframe near the end and the player reports the stop
// at the end of a file a moment early. Never before the marker's start.
std::int64_t past_line(const Marker& m, std::int64_t slack) {
  return std::max(m.start_ms, m.end_ms - slack);
}

void put_string_or_null(base::JsonWriter& out, std::string_view key, std::string_view value) {
  out.key(key);
  if (value.empty())
    out.null();
  else
    out.string(value);
}

template <typename T>
void put_optional(base::JsonWriter& out, std::string_view key, const std::optional<T>& value) {
  out.key(key);
  if (!value)
    out.null();
  else if constexpr (std::is_same_v<T, bool>)
    out.boolean(*value);
  else if constexpr (std::is_same_v<T, double>)
    out.number(*value);
  else
    out.int64(*value);
}

void put_time(base::JsonWriter& out, std::string_view key, std::int64_t ms) {
  out.key(key);
  out.string(base::rfc3339_ms(ms));
}

}  // namespace

TimelineState timeline_state_from(std::string_view state) {
  if (state == "playing") return TimelineState::playing;
  if (state == "paused") return TimelineState::paused;
  if (state == "buffering") return TimelineState::buffering;
  if (state == "stopped") return TimelineState::stopped;
  return TimelineState::other;
}

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

void write_play(const Play& p, base::JsonWriter& out, std::string_view media_json) {
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
  out.end_object();
}

// ---------------------------------------------------------------------------------------

struct PlayBuilder::Session {
  Play row;
  // Copied from the lookup, so its pointer need not outlive the call.
  std::vector<Marker> intros, credits;
  std::optional<std::int64_t> marker_duration_ms;
  bool intro_jump = false, credits_jump = false;

  // The last update.
  std::int64_t last_ts = 0;
  TimelineState last_state = TimelineState::other;
  // The last known position, when it was reported, and whether the player may have played
  // since (a playing or buffering state at or after that update).
  std::optional<std::int64_t> last_pos;
  std::int64_t last_pos_ts = 0;
  bool may_have_played = false;
};

struct PlayBuilder::ClientState {
  struct Decision {
    std::string rating_key;
    PlayDecision decision;
  };

  const std::string* id = nullptr;  // the map's key
  std::optional<Session> session;
  std::array<Decision, kDecisionsPerClient> decisions;  // a ring, newest at next_decision - 1
  std::size_t decision_count = 0, next_decision = 0;
  std::optional<PlaySearch> search;
  std::int64_t last_active = 0;
  std::list<ClientState*>::iterator activity_it, idle_it;
};

struct PlayBuilder::ClientMap
    : std::unordered_map<std::string, ClientState, StringHash, std::equal_to<>> {};

PlayBuilder::PlayBuilder(PlayOptions options, MarkerLookup markers,
                         std::function<void(const Play&)> emit)
    : options_(options),
      markers_(std::move(markers)),
      emit_(std::move(emit)),
      clients_(std::make_unique<ClientMap>()) {}

PlayBuilder::~PlayBuilder() = default;

std::size_t PlayBuilder::tracked_clients() const {
  return clients_->size();
}

void PlayBuilder::add(const PlayInput& event) {
  advance(event.ts_ms);
  switch (event.kind) {
    case Kind::timeline:
      on_timeline(event);
      break;
    case Kind::scrobble:
      on_scrobble(event, true);
      break;
    case Kind::unscrobble:
      on_scrobble(event, false);
      break;
    case Kind::decision:
      on_decision(event);
      break;
    case Kind::search:
      on_search(event);
      break;
    default:
      break;
  }
}

void PlayBuilder::finish(std::optional<std::int64_t> end_ms) {
  while (!by_idle_.empty()) {
    ClientState& c = *by_idle_.front();
    bool idle = end_ms && *end_ms - c.session->last_ts > options_.idle_timeout_ms;
    close(c, idle ? PlayEnd::timeout : PlayEnd::end_of_data);
  }
  flush(now_, true);
  by_activity_.clear();
  clients_->clear();
  now_ = std::numeric_limits<std::int64_t>::min();
}

// Time moves with the events; everything that expires is dealt with before the event that
// moved time is applied, so an update more than the timeout after the previous one starts a
// new session rather than extending the old.
void PlayBuilder::advance(std::int64_t now) {
  now_ = std::max(now_, now);
  // Rule: a session ends after `idle_timeout` without an update; a gap of exactly the
  // timeout still continues it. It ends at its last update, not at the moment it expired.
  while (!by_idle_.empty()) {
    ClientState& c = *by_idle_.front();
    if (now_ - c.session->last_ts <= options_.idle_timeout_ms) break;
    close(c, PlayEnd::timeout);
  }
  flush(now_, false);
  // A client is forgotten once idle longer than any window that could still use its
  // context; by then its session, if any, has timed out above.
  std::int64_t keep =
      std::max({options_.idle_timeout_ms, options_.search_window_ms, options_.decision_window_ms});
  while (!by_activity_.empty()) {
    ClientState& c = *by_activity_.front();
    if (now_ - c.last_active <= keep || c.session) break;
    by_activity_.pop_front();
    clients_->erase(clients_->find(*c.id));
  }
}

// Rows are held until their scrobble window has passed and no open session can still end
// earlier than they did, so that they come out in order of `ended_at`.
void PlayBuilder::flush(std::int64_t now, bool all) {
  std::int64_t hold = std::max(options_.scrobble_window_ms, options_.idle_timeout_ms);
  while (!pending_.empty()) {
    auto first = pending_.begin();
    if (!all && now - first->first.first <= hold) break;
    emit_(first->second);
    pending_.erase(first);
  }
}

PlayBuilder::ClientState& PlayBuilder::client(std::string_view id, std::int64_t now) {
  auto it = clients_->find(id);
  if (it == clients_->end()) {
    it = clients_->try_emplace(std::string(id)).first;
    ClientState& c = it->second;
    c.id = &it->first;
    c.activity_it = by_activity_.insert(by_activity_.end(), &c);
    c.last_active = now;
    return c;
  }
  touch(it->second, now);
  return it->second;
}

void PlayBuilder::touch(ClientState& c, std::int64_t now) {
  by_activity_.splice(by_activity_.end(), by_activity_, c.activity_it);
  c.last_active = now;
}

namespace {

// Rule: an update belongs to the open session unless it names another item: a different
// play-queue item id, or a different rating key, where both sides have one. An update that
// names the item one way only (some clients drop playQueueItemID on some updates) continues
// the session.
bool same_item(const Play& row, const PlayInput& e) {
  if (!row.play_queue_item_id.empty() && !e.play_queue_item_id.empty() &&
      row.play_queue_item_id != e.play_queue_item_id)
    return false;
  if (!row.rating_key.empty() && !e.rating_key.empty() && row.rating_key != e.rating_key)
    return false;
  return true;
}

}  // namespace

void PlayBuilder::on_timeline(const PlayInput& e) {
  // An update naming no item cannot be told apart from any other session; it is ignored.
  if (e.rating_key.empty() && e.play_queue_item_id.empty()) return;

  auto it = clients_->find(e.client_id);
  ClientState* c = it == clients_->end() ? nullptr : &it->second;
  if (c && c->session) {
    if (same_item(c->session->row, e)) {
      touch(*c, e.ts_ms);
      by_idle_.splice(by_idle_.end(), by_idle_, c->idle_it);
      update(*c, e);
      // Rule: `stopped` ends the session; its position and the time since the previous
      // update still count.
      if (e.state == TimelineState::stopped) close(*c, PlayEnd::stopped);
      return;
    }
    // Rule: a `stopped` for another item is a late report of a session already closed (or
    // never seen); it neither ends the open session nor starts one.
    if (e.state == TimelineState::stopped) return;
    // Rule: the player moved on to another item (next episode in the queue, or anything
    // else started on this client): the open session ends at its own last update.
    close(*c, PlayEnd::next_item);
  } else if (e.state == TimelineState::stopped) {
    // Rule: a lone `stopped` (its session timed out, or began before the exported range)
    // shows no viewing and makes no row.
    return;
  }
  start(client(e.client_id, e.ts_ms), e);
}

void PlayBuilder::start(ClientState& c, const PlayInput& e) {
  Session& s = c.session.emplace();
  Play& row = s.row;
  row.client_id = *c.id;
  row.rating_key = e.rating_key;
  row.play_queue_item_id = e.play_queue_item_id;
  row.started_at_ms = e.ts_ms;
  if (e.duration_ms && *e.duration_ms > 0) row.duration_ms = e.duration_ms;
  row.max_position_ms = e.time_ms;

  // Rule: the search counted is the client's last one at most `search_window` before the
  // start. Every play it precedes gets it (a search, then two episodes in a row: both).
  if (c.search && e.ts_ms - c.search->ts_ms <= options_.search_window_ms) row.search = c.search;
  if (!row.rating_key.empty()) on_rating_key(c, s);

  // The first update has no predecessor: no watched time, pause or seek yet. A session that
  // opens paused has not been paused by the viewer.
  s.last_ts = e.ts_ms;
  s.last_state = e.state;
  s.last_pos = e.time_ms;
  s.last_pos_ts = e.ts_ms;
  s.may_have_played = may_advance(e.state);
  c.idle_it = by_idle_.insert(by_idle_.end(), &c);
}

// Once the session's rating key is known: its markers, and the decision that preceded it.
void PlayBuilder::on_rating_key(ClientState& c, Session& s) {
  const std::string& rk = s.row.rating_key;
  if (markers_) {
    if (const Markers* m = markers_(rk)) {
      for (const Marker& marker : m->markers) {
        if (marker.type == "intro") s.intros.push_back(marker);
        if (marker.type == "credits") s.credits.push_back(marker);
      }
      if (m->duration_ms && *m->duration_ms > 0) s.marker_duration_ms = m->duration_ms;
    }
  }
  // Rule: the decision of a session is the client's last decision for the same rating key,
  // made at most `decision_window` before the start (an older one belongs to an earlier
  // playback) or during the session (a later one replaces it: quality changed, or resumed).
  for (std::size_t k = 0; k < c.decision_count; ++k) {
    const auto& d =
        c.decisions[(c.next_decision + kDecisionsPerClient - 1 - k) % kDecisionsPerClient];
    if (d.rating_key == rk &&
        s.row.started_at_ms - d.decision.ts_ms <= options_.decision_window_ms) {
      s.row.decision = d.decision;
      break;
    }
  }
}

void PlayBuilder::update(ClientState& c, const PlayInput& e) {
  Session& s = *c.session;
  Play& row = s.row;
  if (row.play_queue_item_id.empty() && !e.play_queue_item_id.empty())
    row.play_queue_item_id = e.play_queue_item_id;
  if (row.rating_key.empty() && !e.rating_key.empty()) {
    row.rating_key = e.rating_key;
    on_rating_key(c, s);
  }

  std::int64_t t = std::max(e.ts_ms, s.last_ts);
  // Rule: watched time is the wall-clock time from an update saying `playing` to the next
  // update. Paused and buffering time does not count. No interval exceeds the idle timeout
  // (a longer gap has ended the session), which is the cap section 7 asks for.
  if (s.last_state == TimelineState::playing) row.watched_ms += t - s.last_ts;
  // Rule: a pause is a transition into `paused` from any other state.
  if (e.state == TimelineState::paused && s.last_state != TimelineState::paused) ++row.pauses;
  // Rule: the duration is the last one a timeline reported; enrichment's when none did.
  if (e.duration_ms && *e.duration_ms > 0) row.duration_ms = e.duration_ms;

  bool active = may_advance(e.state);
  if (e.time_ms) {
    std::int64_t pos = *e.time_ms;
    if (s.last_pos) {
      // Rule: playback explains a forward move of at most the wall-clock time since the
      // last known position, if the player may have played in between (either end
      // playing or buffering: the state may change at any moment between two updates).
      // Beyond that by more than the threshold is a forward seek; any backward move beyond
      // the threshold is a back seek.
      std::int64_t prev = *s.last_pos;
      std::int64_t jump = pos - prev;
      std::int64_t explained = (s.may_have_played || active) ? t - s.last_pos_ts : 0;
      std::int64_t unexplained = jump - explained;
      if (unexplained > options_.seek_threshold_ms)
        ++row.seeks_forward;
      else if (jump < -options_.seek_threshold_ms)
        ++row.seeks_back;
      // Rule: a marker is skipped when the position jumps, by more than playback explains
      // (with a small tolerance, shorter than a seek: a skip button may jump only a few
      // seconds), from before the marker's end to at or after it. For credits that means
      // jumping out of or over them.
      if (unexplained > options_.skip_tolerance_ms) {
        auto crosses = [&](const Marker& m) {
          std::int64_t line = past_line(m, options_.marker_slack_ms);
          return prev < line && pos >= line;
        };
        s.intro_jump = s.intro_jump || std::any_of(s.intros.begin(), s.intros.end(), crosses);
        s.credits_jump = s.credits_jump || std::any_of(s.credits.begin(), s.credits.end(), crosses);
      }
    }
    s.last_pos = pos;
    s.last_pos_ts = t;
    s.may_have_played = active;
    row.max_position_ms = std::max(row.max_position_ms.value_or(pos), pos);
  } else if (active) {
    s.may_have_played = true;
  }
  s.last_ts = t;
  s.last_state = e.state;
}

void PlayBuilder::close(ClientState& c, PlayEnd why) {
  Session& s = *c.session;
  Play& row = s.row;
  row.ended_at_ms = s.last_ts;
  row.ended_by = why;
  if (!row.duration_ms) row.duration_ms = s.marker_duration_ms;
  if (row.duration_ms && row.max_position_ms) {
    double ratio =
        static_cast<double>(*row.max_position_ms) / static_cast<double>(*row.duration_ms);
    row.completion = std::round(std::clamp(ratio, 0.0, 1.0) * 10000.0) / 10000.0;
  }
  // Rules, only where the item has such markers (else null):
  // - intro_skipped: a jump over the end of an intro (see update()).
  // - credits_skipped: a jump over the end of the credits, or the player moving on to the
  //   next item while in the credits (Plex's "play next" / skip credits on an episode).
  // - stopped_in_credits: the session ended by `stopped` or by timeout (an app closed
  //   without saying so) with the last position in the credits, short of their last
  //   `marker_slack` (a stop there is the end of the file, i.e. the credits played through).
  if (!s.intros.empty()) row.intro_skipped = s.intro_jump;
  if (!s.credits.empty()) {
    bool in_credits =
        s.last_pos && std::any_of(s.credits.begin(), s.credits.end(), [&](const Marker& m) {
          return *s.last_pos >= m.start_ms && *s.last_pos < past_line(m, options_.marker_slack_ms);
        });
    row.credits_skipped = s.credits_jump || (why == PlayEnd::next_item && in_credits);
    row.stopped_in_credits = (why == PlayEnd::stopped || why == PlayEnd::timeout) && in_credits;
  }
  pending_.emplace(std::pair{row.ended_at_ms, closed_++}, std::move(row));
  by_idle_.erase(c.idle_it);
  c.session.reset();
}

// Rule: a scrobble (or unscrobble) for the rating key of the client's open session, or of one
// of its sessions that ended at most `scrobble_window` earlier (the latest such), marks it;
// the last of scrobble and unscrobble wins.
void PlayBuilder::on_scrobble(const PlayInput& e, bool scrobbled) {
  if (e.rating_key.empty()) return;
  if (auto it = clients_->find(e.client_id); it != clients_->end()) {
    auto& session = it->second.session;
    if (session && session->row.rating_key == e.rating_key) {
      session->row.scrobbled = scrobbled;
      return;
    }
  }
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    Play& row = it->second;
    if (e.ts_ms - row.ended_at_ms > options_.scrobble_window_ms) break;
    if (row.client_id == e.client_id && row.rating_key == e.rating_key) {
      row.scrobbled = scrobbled;
      return;
    }
  }
}

void PlayBuilder::on_decision(const PlayInput& e) {
  ClientState& c = client(e.client_id, e.ts_ms);
  auto& slot = c.decisions[c.next_decision];
  c.next_decision = (c.next_decision + 1) % kDecisionsPerClient;
  c.decision_count = std::min(c.decision_count + 1, kDecisionsPerClient);
  slot.rating_key = e.rating_key;
  PlayDecision& d = slot.decision;
  d.ts_ms = e.ts_ms;
  d.session = e.session;
  d.general_code = e.general_code;
  d.general_text = e.general_text;
  d.direct_play = e.direct_play;
  d.direct_stream = e.direct_stream;
  d.video = e.video_decision;
  d.audio = e.audio_decision;
  if (c.session && !e.rating_key.empty() && c.session->row.rating_key == e.rating_key)
    c.session->row.decision = d;
}

void PlayBuilder::on_search(const PlayInput& e) {
  ClientState& c = client(e.client_id, e.ts_ms);
  PlaySearch& s = c.search ? *c.search : c.search.emplace();
  s.ts_ms = e.ts_ms;
  s.query = e.query;
  s.result_count = e.result_count;
}

}  // namespace plextap::capture
