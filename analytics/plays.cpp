// Session reconstruction for `export plays` (over 400 lines on purpose: the rules read best
// side by side, and none of them stands alone). The rules, where DESIGN.md section 7 leaves
// room, are stated next to the code that applies them; the file's header states the model:
//
// - One open session per client. A Plex player plays one item at a time, so a session is
//   the client plus the item it plays: the play-queue item id, or the rating key when the
//   client sends none. Holding the open session on the client keeps every lookup one hash
//   probe and lets an update that lacks one of the two ids still find its session.
// - Three sides report a play: the client's timelines (through the proxy), the server's
//   `playing` notifications and its session snapshots, in falling order of precision. The
//   server names the same client identifier and item, so an update of any side for the
//   client's open item is the same play. Each side's updates are followed on their own
//   track; the row takes positions, watched time, pauses, seeks and skips from the most
//   precise side present, and the account, location, bandwidth and player address from the
//   snapshots.
// - Time comes only from the events (their `ts`); nothing reads a clock, so an export gives
//   the same rows every time it is run over the same events.
// - Memory: the open sessions (each with at most 256 bandwidth samples), the closed rows
//   still inside their scrobble window, and per recently active client its last few
//   decisions, its last search and the item of its last closed session. Clients idle longer
//   than every window are forgotten.
#include "analytics/plays.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <limits>
#include <unordered_map>

namespace plextap::analytics {
namespace {

// Decisions kept per client: a client asks for the next item's decision while the current
// one plays, so the last one alone can name the wrong item.
constexpr std::size_t kDecisionsPerClient = 4;
// Searches and play queues kept per client: a viewer searches a few times before playing,
// and a client keeps a queue of the show and one of what plays next.
constexpr std::size_t kSearchesPerClient = 8, kQueuesPerClient = 4;
// Token fingerprints whose account is remembered (a household has a few; a hostile client
// could invent many).
constexpr std::size_t kAccountsKept = 10'000;

// The sides that report a play, most precise first (the index of a session's tracks).
constexpr std::size_t kTimelineSide = 0, kNotificationSide = 1, kSnapshotSide = 2, kSides = 3;

std::optional<std::size_t> side_of(Kind kind) {
  switch (kind) {
    case Kind::timeline:
      return kTimelineSide;
    case Kind::notification:
      return kNotificationSide;
    case Kind::session:
      return kSnapshotSide;
    default:
      return std::nullopt;
  }
}

// One side's updates of a play and what they show.
struct Track {
  bool seen = false;
  std::int64_t watched_ms = 0;
  std::optional<std::int64_t> max_position_ms;
  std::uint32_t pauses = 0, seeks_forward = 0, seeks_back = 0;
  bool intro_jump = false, credits_jump = false;
  // The last update of this side.
  std::int64_t last_ts = 0;
  TimelineState last_state = TimelineState::other;
  // The last known position, when it was reported, and whether the player may have played
  // since (a playing or buffering state at or after that update).
  std::optional<std::int64_t> last_pos;
  std::int64_t last_pos_ts = 0;
  bool may_have_played = false;
};

// Values for a median in bounded memory: past the cap, every other one is dropped and only
// every other new one is kept from then on, so those held stay evenly spread over the play.
class MedianSamples {
 public:
  void add(std::int64_t value) {
    if (seen_++ % stride_ != 0) return;
    if (values_.size() == kCap) {
      for (std::size_t i = 0; i < kCap / 2; ++i) values_[i] = values_[2 * i];
      values_.resize(kCap / 2);
      stride_ *= 2;
    }
    values_.push_back(value);
  }
  std::optional<std::int64_t> median() const {
    if (values_.empty()) return std::nullopt;
    std::vector<std::int64_t> v = values_;
    std::sort(v.begin(), v.end());
    std::size_t mid = v.size() / 2;
    return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  }

 private:
  static constexpr std::size_t kCap = 256;
  std::vector<std::int64_t> values_;
  std::uint64_t seen_ = 0, stride_ = 1;
};

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

}  // namespace

TimelineState timeline_state_from(std::string_view state) {
  if (state == "playing") return TimelineState::playing;
  if (state == "paused") return TimelineState::paused;
  if (state == "buffering") return TimelineState::buffering;
  if (state == "stopped") return TimelineState::stopped;
  return TimelineState::other;
}

std::string_view to_string(PlaySource source) {
  switch (source) {
    case PlaySource::proxy:
      return "proxy";
    case PlaySource::server:
      return "server";
    case PlaySource::both:
      return "both";
  }
  return "proxy";
}

struct PlayBuilder::Session {
  Play row;
  // Copied from the lookup, so its pointer need not outlive the call.
  std::vector<Marker> intros, credits;
  std::optional<std::int64_t> marker_duration_ms, snapshot_duration_ms;
  std::vector<capture::ItemVersion> versions;  // copied from the lookup, as the markers
  // The version the server's snapshots name, and its picture as they describe it.
  std::string snapshot_media_id, snapshot_resolution, snapshot_hdr;
  std::string decision_media_id;
  std::array<Track, kSides> tracks;
  std::int64_t last_ts = 0;  // the last update of any side
  // A less precise side said `stopped` while a more precise one still may: when and which.
  std::optional<std::int64_t> stop_ts;
  std::size_t stop_side = 0;
  MedianSamples bandwidth;

  std::size_t best_side() const {
    std::size_t side = 0;
    while (side + 1 < kSides && !tracks[side].seen) ++side;
    return side;
  }
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
  struct Search {
    PlaySearch search;
    std::vector<std::string> keys;  // the rating keys among its results
  };
  std::deque<Search> searches;  // oldest first, at most kSearchesPerClient
  struct Queue {
    std::string id, source_key, selected_item_id;
    std::vector<std::string> keys;
    std::optional<PlaySearch> search;  // the search whose result it was made from
  };
  std::deque<Queue> queues;  // oldest first, at most kQueuesPerClient
  // The item of the client's last closed session, for reports of it that come late.
  struct Closed {
    std::string rating_key, play_queue_item_id;
    std::int64_t ended_at_ms = 0;
    std::size_t best_side = 0;
  };
  std::optional<Closed> last_closed;
  std::int64_t last_active = 0;
  std::list<ClientState*>::iterator activity_it, idle_it;
};

struct PlayBuilder::ClientMap
    : std::unordered_map<std::string, ClientState, StringHash, std::equal_to<>> {};

PlayBuilder::PlayBuilder(PlayOptions options, ItemLookup markers,
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
  if (auto side = side_of(event.kind)) {
    on_update(event, *side);
    return;
  }
  switch (event.kind) {
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
    case Kind::playqueue:
      on_queue(event);
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
  expire(now_);
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

// Rule: a session ends after `idle_timeout` without an update; a gap of exactly the
// timeout still continues it. It ends at its last update, not at the moment it expired.
void PlayBuilder::expire(std::int64_t now) {
  while (!by_idle_.empty()) {
    ClientState& c = *by_idle_.front();
    if (now - c.session->last_ts <= options_.idle_timeout_ms) break;
    close(c, PlayEnd::timeout);
  }
  flush(now, false);
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
bool same_item(std::string_view rating_key, std::string_view play_queue_item_id,
               const PlayInput& e) {
  if (!play_queue_item_id.empty() && !e.play_queue_item_id.empty() &&
      play_queue_item_id != e.play_queue_item_id)
    return false;
  if (!rating_key.empty() && !e.rating_key.empty() && rating_key != e.rating_key) return false;
  return true;
}

}  // namespace

void PlayBuilder::on_update(const PlayInput& e, std::size_t side) {
  // An update naming no item cannot be told apart from any other session; it is ignored.
  if (e.rating_key.empty() && e.play_queue_item_id.empty()) return;

  auto it = clients_->find(e.client_id);
  ClientState* c = it == clients_->end() ? nullptr : &it->second;
  if (c && c->session) {
    Session& s = *c->session;
    if (same_item(s.row.rating_key, s.row.play_queue_item_id, e)) {
      // Rule: a more precise side playing the item again well after a less precise side
      // said `stopped` starts a new play: that stop ended the previous one.
      if (s.stop_ts && side < s.stop_side && e.state != TimelineState::stopped &&
          e.ts_ms - *s.stop_ts > options_.side_grace_ms) {
        close(*c, PlayEnd::stopped);
        touch(*c, e.ts_ms);
        start(*c, e, side);
        return;
      }
      touch(*c, e.ts_ms);
      by_idle_.splice(by_idle_.end(), by_idle_, c->idle_it);
      update(*c, e, side);
      // Rule: `stopped` ends the session; its position and the time since the previous
      // update still count. A less precise side's stop only marks the session: the more
      // precise side's last report may still come (each side's events are committed in
      // their own order), and the session is then ended by `stopped` however it closes.
      if (e.state == TimelineState::stopped) {
        if (side == s.best_side()) {
          close(*c, PlayEnd::stopped);
        } else if (!s.stop_ts) {
          s.stop_ts = e.ts_ms;
          s.stop_side = side;
        }
      }
      return;
    }
    // Rule: a `stopped` for another item is a late report of a session already closed (or
    // never seen); it neither ends the open session nor starts one.
    if (e.state == TimelineState::stopped) return;
    if (late_report(*c, e, side)) return;
    // Rule: the player moved on to another item (next episode in the queue, or anything
    // else started on this client): the open session ends at its own last update.
    close(*c, PlayEnd::next_item);
  } else if (e.state == TimelineState::stopped) {
    // Rule: a lone `stopped` (its session timed out, or began before the exported range)
    // shows no viewing and makes no row.
    return;
  } else if (c && late_report(*c, e, side)) {
    return;
  }
  start(client(e.client_id, e.ts_ms), e, side);
}

// Rule: an update of a less precise side than the best one of the client's last closed
// session, for that session's item and at most `side_grace` after its end, is a late report
// of that play (the server still announcing what the client already told us has ended, or
// has moved on from); it neither reopens it nor starts another.
bool PlayBuilder::late_report(const ClientState& c, const PlayInput& e, std::size_t side) const {
  const auto& closed = c.last_closed;
  return closed && side > closed->best_side &&
         e.ts_ms - closed->ended_at_ms <= options_.side_grace_ms &&
         same_item(closed->rating_key, closed->play_queue_item_id, e);
}

void PlayBuilder::start(ClientState& c, const PlayInput& e, std::size_t side) {
  Session& s = c.session.emplace();
  Play& row = s.row;
  row.client_id = *c.id;
  row.rating_key = e.rating_key;
  row.play_queue_item_id = e.play_queue_item_id;
  row.started_at_ms = e.ts_ms;
  s.last_ts = e.ts_ms;
  if (!row.rating_key.empty()) on_rating_key(c, s);
  update(c, e, side);
  c.idle_it = by_idle_.insert(by_idle_.end(), &c);
}

// Once the session's rating key is known: its markers, and the decision that preceded it.
void PlayBuilder::on_rating_key(ClientState& c, Session& s) {
  const std::string& rk = s.row.rating_key;
  if (markers_) {
    if (const ItemFacts* m = markers_(rk)) {
      for (const Marker& marker : m->markers) {
        if (marker.type == "intro") s.intros.push_back(marker);
        if (marker.type == "credits") s.credits.push_back(marker);
      }
      if (m->duration_ms && *m->duration_ms > 0) s.marker_duration_ms = m->duration_ms;
      s.versions = m->versions;
      s.row.item_type = m->type;
      s.row.title = m->title;
      // An episode's show; a movie (or anything without a show) is its own.
      s.row.show_key = m->grandparent_rating_key.empty() ? rk : m->grandparent_rating_key;
      s.row.show_title = m->grandparent_title.empty() ? m->title : m->grandparent_title;
    }
  }
  match_search(c, s);
  // Rule: the decision of a session is the client's last decision for the same rating key,
  // made at most `decision_window` before the start (an older one belongs to an earlier
  // playback) or during the session (a later one replaces it: quality changed, or resumed).
  for (std::size_t k = 0; k < c.decision_count; ++k) {
    const auto& d =
        c.decisions[(c.next_decision + kDecisionsPerClient - 1 - k) % kDecisionsPerClient];
    if (d.rating_key == rk &&
        s.row.started_at_ms - d.decision.ts_ms <= options_.decision_window_ms) {
      s.row.decision = d.decision;
      s.decision_media_id = d.decision.chosen_media_id;
      break;
    }
  }
}

void PlayBuilder::update(ClientState& c, const PlayInput& e, std::size_t side) {
  Session& s = *c.session;
  Play& row = s.row;
  if (row.play_queue_item_id.empty() && !e.play_queue_item_id.empty())
    row.play_queue_item_id = e.play_queue_item_id;
  if (row.rating_key.empty() && !e.rating_key.empty()) {
    row.rating_key = e.rating_key;
    on_rating_key(c, s);
  }
  // Each side's events are committed in their own order: the play spans all of them.
  row.started_at_ms = std::min(row.started_at_ms, e.ts_ms);
  s.last_ts = std::max(s.last_ts, e.ts_ms);
  // Rule: the duration is the last one a timeline reported; else the last a snapshot did;
  // enrichment's when none did.
  if (e.duration_ms && *e.duration_ms > 0) {
    if (side == kTimelineSide)
      row.duration_ms = e.duration_ms;
    else
      s.snapshot_duration_ms = e.duration_ms;
  }
  // Rule: the account, location and player address are the last a snapshot of this play
  // named (the account as it was then, not the client's latest); the bandwidth is the
  // median of its snapshots.
  if (side == kTimelineSide && !e.token_fp.empty() && row.token_fp != e.token_fp) {
    row.token_fp = e.token_fp;
    learn_account(row);
  }
  if (side == kSnapshotSide) {
    if (e.account_id || !e.user_name.empty()) {
      row.account_id = e.account_id;
      row.user_name = e.user_name;
      learn_account(row);
    }
    if (!e.chosen_media_id.empty()) {
      s.snapshot_media_id = e.chosen_media_id;
      s.snapshot_resolution = e.video_resolution;
      s.snapshot_hdr = e.hdr;
    }
    if (!e.location.empty()) row.location = e.location;
    if (!e.player_address.empty()) row.player_address = e.player_address;
    if (e.bandwidth_kbps) s.bandwidth.add(*e.bandwidth_kbps);
  }

  Track& tr = s.tracks[side];
  if (!tr.seen) {
    // The first update of a side has no predecessor: no watched time, pause or seek yet. A
    // session that opens paused has not been paused by the viewer.
    tr.seen = true;
    tr.max_position_ms = e.time_ms;
    tr.last_ts = e.ts_ms;
    tr.last_state = e.state;
    tr.last_pos = e.time_ms;
    tr.last_pos_ts = e.ts_ms;
    tr.may_have_played = may_advance(e.state);
    return;
  }

  std::int64_t t = std::max(e.ts_ms, tr.last_ts);
  // Rule: watched time is the wall-clock time from an update saying `playing` to the next
  // update. Paused and buffering time does not count. No interval exceeds the idle timeout
  // (a longer gap has ended the session), which is the cap section 7 asks for.
  if (tr.last_state == TimelineState::playing) tr.watched_ms += t - tr.last_ts;
  // Rule: a pause is a transition into `paused` from any other state.
  if (e.state == TimelineState::paused && tr.last_state != TimelineState::paused) ++tr.pauses;

  bool active = may_advance(e.state);
  if (e.time_ms) {
    std::int64_t pos = *e.time_ms;
    if (tr.last_pos) {
      // Rule: playback explains a forward move of at most the wall-clock time since the
      // last known position, if the player may have played in between (either end
      // playing or buffering: the state may change at any moment between two updates).
      // Beyond that by more than the threshold is a forward seek; any backward move beyond
      // the threshold is a back seek.
      std::int64_t prev = *tr.last_pos;
      std::int64_t jump = pos - prev;
      std::int64_t explained = (tr.may_have_played || active) ? t - tr.last_pos_ts : 0;
      std::int64_t unexplained = jump - explained;
      if (unexplained > options_.seek_threshold_ms)
        ++tr.seeks_forward;
      else if (jump < -options_.seek_threshold_ms)
        ++tr.seeks_back;
      // Rule: a marker is skipped when the position jumps, by more than playback explains
      // (with a small tolerance, shorter than a seek: a skip button may jump only a few
      // seconds), from before the marker's end to at or after it. For credits that means
      // jumping out of or over them.
      if (unexplained > options_.skip_tolerance_ms) {
        auto crosses = [&](const Marker& m) {
          std::int64_t line = past_line(m, options_.marker_slack_ms);
          return prev < line && pos >= line;
        };
        tr.intro_jump = tr.intro_jump || std::any_of(s.intros.begin(), s.intros.end(), crosses);
        tr.credits_jump =
            tr.credits_jump || std::any_of(s.credits.begin(), s.credits.end(), crosses);
      }
    }
    tr.last_pos = pos;
    tr.last_pos_ts = t;
    tr.may_have_played = active;
    tr.max_position_ms = std::max(tr.max_position_ms.value_or(pos), pos);
  } else if (active) {
    tr.may_have_played = true;
  }
  tr.last_ts = t;
  tr.last_state = e.state;
}

namespace {

PlaySource source_of(bool timelines, bool server) {
  return !timelines ? PlaySource::server : server ? PlaySource::both : PlaySource::proxy;
}

}  // namespace

void PlayBuilder::for_each_held(
    const std::function<void(std::string_view, PlaySource)>& f) const {
  for (const ClientState* c : by_idle_) {
    const Session& s = *c->session;
    f(*c->id, source_of(s.tracks[kTimelineSide].seen,
                        s.tracks[kNotificationSide].seen || s.tracks[kSnapshotSide].seen));
  }
  for (const auto& [order, row] : pending_) f(row.client_id, row.source);
}

void PlayBuilder::for_each_open(const std::function<void(const OpenPlay&)>& f) const {
  for (const ClientState* c : by_idle_) {
    const Session& s = *c->session;
    const Track& tr = s.tracks[s.best_side()];
    f(OpenPlay{&s.row, tr.last_state, tr.last_pos, s.last_ts,
               source_of(s.tracks[kTimelineSide].seen,
                         s.tracks[kNotificationSide].seen || s.tracks[kSnapshotSide].seen)});
  }
}

void PlayBuilder::for_each_pending(const std::function<void(const Play&)>& f) const {
  for (const auto& [order, row] : pending_) f(row);
}

void PlayBuilder::close(ClientState& c, PlayEnd why) {
  Session& s = *c.session;
  Play& row = s.row;
  // Rule: positions, watched time, pauses, seeks and skips come from the most precise side
  // that reported the play: client timelines, then notifications, then snapshots.
  const std::size_t best = s.best_side();
  const Track& tr = s.tracks[best];
  row.watched_ms = tr.watched_ms;
  row.max_position_ms = tr.max_position_ms;
  row.pauses = tr.pauses;
  row.seeks_forward = tr.seeks_forward;
  row.seeks_back = tr.seeks_back;
  row.source = source_of(s.tracks[kTimelineSide].seen,
                         s.tracks[kNotificationSide].seen || s.tracks[kSnapshotSide].seen);
  row.bandwidth_kbps = s.bandwidth.median();
  // Rule: who watched is the account the snapshots of this play named; else the account
  // learnt for the token its requests carried (each Plex Home profile has its own token,
  // so a shared TV switching profiles is told apart); else nobody known.
  if (!row.account_id && row.user_name.empty() && !row.token_fp.empty())
    if (auto it = accounts_.find(row.token_fp); it != accounts_.end()) {
      row.account_id = it->second.id;
      row.user_name = it->second.name;
    }
  // Rule: the version played is the one the server's snapshots name, else the decision's,
  // else the item's only version; its picture comes from enrichment's entry for it, else
  // from the snapshot.
  row.chosen_media_id = !s.snapshot_media_id.empty() ? s.snapshot_media_id
                        : !s.decision_media_id.empty() ? s.decision_media_id
                        : s.versions.size() == 1       ? s.versions[0].id
                                                       : std::string();
  if (!row.chosen_media_id.empty()) {
    auto v = std::find_if(s.versions.begin(), s.versions.end(),
                          [&](const capture::ItemVersion& v) { return v.id == row.chosen_media_id; });
    if (v != s.versions.end()) {
      row.video_resolution = v->video_resolution;
      row.hdr = v->hdr;
      row.dovi_profile = v->dovi_profile;
    } else if (row.chosen_media_id == s.snapshot_media_id) {
      row.video_resolution = s.snapshot_resolution;
      row.hdr = s.snapshot_hdr;
    }
  }
  if (s.stop_ts) why = PlayEnd::stopped;
  row.ended_at_ms = s.last_ts;
  row.ended_by = why;
  if (!row.duration_ms) row.duration_ms = s.snapshot_duration_ms;
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
  if (!s.intros.empty()) row.intro_skipped = tr.intro_jump;
  if (!s.credits.empty()) {
    bool in_credits =
        tr.last_pos && std::any_of(s.credits.begin(), s.credits.end(), [&](const Marker& m) {
          return *tr.last_pos >= m.start_ms &&
                 *tr.last_pos < past_line(m, options_.marker_slack_ms);
        });
    row.credits_skipped = tr.credits_jump || (why == PlayEnd::next_item && in_credits);
    row.stopped_in_credits = (why == PlayEnd::stopped || why == PlayEnd::timeout) && in_credits;
  }
  auto& closed = c.last_closed ? *c.last_closed : c.last_closed.emplace();
  closed.rating_key = row.rating_key;
  closed.play_queue_item_id = row.play_queue_item_id;
  closed.ended_at_ms = row.ended_at_ms;
  closed.best_side = best;
  if (on_close_) on_close_(row);
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
  d.chosen_media_id = e.chosen_media_id;
  if (c.session && !e.rating_key.empty() && c.session->row.rating_key == e.rating_key) {
    c.session->row.decision = d;
    if (!d.chosen_media_id.empty()) c.session->decision_media_id = d.chosen_media_id;
  }
}

void PlayBuilder::on_search(const PlayInput& e) {
  ClientState& c = client(e.client_id, e.ts_ms);
  if (c.searches.size() == kSearchesPerClient) c.searches.pop_front();
  auto& s = c.searches.emplace_back();
  s.search.id = e.id;
  s.search.ts_ms = e.ts_ms;
  s.search.query = e.query;
  s.search.result_count = e.result_count;
  s.keys.assign(e.result_keys.begin(), e.result_keys.end());
}

namespace {

bool has(const std::vector<std::string>& keys, std::string_view key) {
  return !key.empty() && std::find(keys.begin(), keys.end(), key) != keys.end();
}

}  // namespace

// Rule: a play queue is remembered per client from the answer that created it, with the
// search whose results held the item it was made from (the latest at most `search_window`
// before); later calls on the same queue (add, shuffle, …) refresh its items.
void PlayBuilder::on_queue(const PlayInput& e) {
  if (e.play_queue_id.empty()) return;
  ClientState& c = client(e.client_id, e.ts_ms);
  auto q = std::find_if(c.queues.begin(), c.queues.end(),
                        [&](const ClientState::Queue& q) { return q.id == e.play_queue_id; });
  if (q == c.queues.end()) {
    if (e.op != "create") return;
    if (c.queues.size() == kQueuesPerClient) c.queues.pop_front();
    q = c.queues.insert(c.queues.end(), ClientState::Queue{});
    q->id = e.play_queue_id;
    q->source_key = e.rating_key;
    const ItemFacts* facts = markers_ && !e.rating_key.empty() ? markers_(e.rating_key) : nullptr;
    for (auto s = c.searches.rbegin(); s != c.searches.rend(); ++s) {
      if (e.ts_ms - s->search.ts_ms > options_.search_window_ms) break;
      if (has(s->keys, e.rating_key) ||
          (facts && (has(s->keys, facts->parent_rating_key) ||
                     has(s->keys, facts->grandparent_rating_key)))) {
        q->search = s->search;
        break;
      }
    }
  }
  if (!e.selected_item_id.empty()) q->selected_item_id = e.selected_item_id;
  if (!e.item_keys.empty()) q->keys.assign(e.item_keys.begin(), e.item_keys.end());
}

// Rule (DESIGN.md section 11): a play's search is the latest on its client at most
// `search_window` before the start whose results held the item, its season or its show, or
// the one the play queue that started the play was made from; otherwise none. The queue that
// started it is the client's latest whose selected item is the play's queue item, or whose
// items hold the rating key.
void PlayBuilder::match_search(ClientState& c, Session& s) {
  Play& row = s.row;
  std::optional<PlaySearch> found;
  for (auto q = c.queues.rbegin(); q != c.queues.rend(); ++q) {
    if ((!row.play_queue_item_id.empty() && q->selected_item_id == row.play_queue_item_id) ||
        has(q->keys, row.rating_key) || q->source_key == row.rating_key) {
      row.play_queue_id = q->id;
      found = q->search;
      break;
    }
  }
  const ItemFacts* facts = markers_ ? markers_(row.rating_key) : nullptr;
  for (auto it = c.searches.rbegin(); it != c.searches.rend(); ++it) {
    const auto& search = it->search;
    if (row.started_at_ms - search.ts_ms > options_.search_window_ms) break;
    if (found && found->ts_ms >= search.ts_ms) break;
    if (has(it->keys, row.rating_key) ||
        (facts && (has(it->keys, facts->parent_rating_key) ||
                   has(it->keys, facts->grandparent_rating_key)))) {
      found = search;
      break;
    }
  }
  row.search = std::move(found);
}

const PlayBuilder::Account* PlayBuilder::account_of(std::string_view token_fp) const {
  auto it = accounts_.find(std::string(token_fp));
  return it == accounts_.end() ? nullptr : &it->second;
}

// A play that a snapshot names the account of and whose requests carried a token: that
// token is the account's (kept for the plays that no snapshot names).
void PlayBuilder::learn_account(const Play& row) {
  if (row.token_fp.empty() || (!row.account_id && row.user_name.empty())) return;
  if (accounts_.size() >= kAccountsKept && !accounts_.count(row.token_fp)) return;
  accounts_[row.token_fp] = Account{row.account_id, row.user_name};
}

}  // namespace plextap::analytics
