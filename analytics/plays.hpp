// Viewing sessions ("plays", DESIGN.md sections 7 and 10) rebuilt from recorded events:
// client timelines (heard by the proxy), the server's `playing` notifications and its session
// snapshots make the sessions, one row per play whichever sides saw it; scrobble, decision and
// search events annotate them. Pure and
// streaming: events go in one at a time in time order, finished rows come out through a
// callback, and memory holds only the open sessions plus a few minutes of context, whatever
// the size of the store.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/json_writer.hpp"
#include "capture/classify.hpp"
#include "capture/enrichment_record.hpp"

namespace plextap::analytics {

using base::JsonWriter;
using capture::Kind;
using capture::Marker;
using capture::ItemFacts;

enum class TimelineState : std::uint8_t { other, playing, paused, buffering, stopped };

// "playing", "paused", "buffering", "stopped"; anything else (or nothing) is `other`, which
// counts neither as watching nor as a pause.
TimelineState timeline_state_from(std::string_view state);

// One recorded event, reduced to what plays need. The views only have to stay valid during
// PlayBuilder::add, so the caller can point them into its parsed record without copying.
struct PlayInput {
  std::int64_t ts_ms = 0;
  std::uint64_t id = 0;  // the event's store id (a search's id names it in plays)
  // timeline, notification (a `playing` one), session (a snapshot), scrobble, unscrobble,
  // decision, search, playqueue; others ignored
  Kind kind = Kind::other;
  std::string_view client_id;
  std::string_view rating_key;  // empty: none; a play queue's: the item it was made from
  std::string_view token_fp;    // a proxied request's token fingerprint

  // timeline, notification, session
  TimelineState state = TimelineState::other;
  std::optional<std::int64_t> time_ms;      // position
  std::optional<std::int64_t> duration_ms;  // null or <= 0: unknown
  std::string_view play_queue_item_id;      // as text (the record's number or string); empty: none

  // session
  std::optional<std::int64_t> account_id;
  std::string_view user_name;
  std::string_view location;  // "lan", "wan"
  std::optional<std::int64_t> bandwidth_kbps;
  std::string_view player_address;  // client.address
  std::string_view video_resolution, hdr;  // of the chosen version

  // session, decision: the version played (a Media id)
  std::string_view chosen_media_id;

  // decision
  std::string_view session;
  std::optional<std::int64_t> general_code;
  std::string_view general_text;
  std::optional<bool> direct_play, direct_stream;
  std::string_view video_decision, audio_decision;  // "directplay", "copy", "transcode"

  // search
  std::string_view query;
  std::optional<std::int64_t> result_count;
  std::span<const std::string_view> result_keys;  // rating keys of the results kept

  // playqueue
  std::string_view op;  // create, get, add, shuffle, …
  std::string_view play_queue_id, selected_item_id;
  std::span<const std::string_view> item_keys;  // rating keys of its items
};

// What enrichment knows about one item (capture::ItemFacts: its intro, credits and commercial
// spans, other types ignored, its duration, season, show and versions). Null when the item is not enriched: the
// marker-derived fields of its plays are then null. The pointer is read at once (the markers are
// copied), so it only has to outlive the call.
using ItemLookup = std::function<const ItemFacts*(std::string_view rating_key)>;

enum class PlayEnd : std::uint8_t { stopped, timeout, next_item, end_of_data };
std::string_view to_string(PlayEnd end);

// The transcode decision of a play, summarised from a `decision` event.
struct PlayDecision {
  std::int64_t ts_ms = 0;
  std::string session;
  std::optional<std::int64_t> general_code;
  std::string general_text;
  std::optional<bool> direct_play, direct_stream;
  std::string video, audio;  // stream decisions; empty: unknown
  std::string chosen_media_id;  // not written: the play's own field says it
};

// The search that led to a play.
struct PlaySearch {
  std::uint64_t id = 0;  // the search event's store id
  std::int64_t ts_ms = 0;
  std::string query;
  std::optional<std::int64_t> result_count;
};

// Which sides saw a play: the proxy (client timelines), the server (its notifications or
// session snapshots), or both.
enum class PlaySource : std::uint8_t { proxy, server, both };
std::string_view to_string(PlaySource source);

// One viewing session. Empty strings and empty optionals are written as null.
struct Play {
  std::string client_id, rating_key, play_queue_item_id;
  std::int64_t started_at_ms = 0, ended_at_ms = 0;
  PlayEnd ended_by = PlayEnd::end_of_data;
  std::optional<std::int64_t> duration_ms;
  std::int64_t watched_ms = 0;
  std::optional<std::int64_t> max_position_ms;
  std::optional<double> completion;  // max position / duration, 0..1, 4 decimals
  std::uint32_t pauses = 0;
  std::uint32_t seeks_forward = 0, seeks_back = 0;  // `seeks` is their sum
  std::optional<bool> intro_skipped, credits_skipped, stopped_in_credits;
  bool scrobbled = false;
  std::optional<PlayDecision> decision;
  std::optional<PlaySearch> search;
  // From the server's side (null for a play only the proxy heard): the account and the
  // player as the session snapshots of this play named them.
  PlaySource source = PlaySource::proxy;
  std::optional<std::int64_t> account_id;
  std::string user_name;
  std::string location;                        // "lan", "wan"
  std::optional<std::int64_t> bandwidth_kbps;  // the median of the snapshots
  std::string player_address;
  // The version played (DESIGN.md section 11): from the server's snapshots, else the
  // decision, else the item's only version; its picture from enrichment, else the snapshot.
  std::string chosen_media_id, video_resolution, hdr;
  std::optional<std::int64_t> dovi_profile;
  // The binge run the play belongs to (analytics/runs.hpp); empty until a RunTracker saw it.
  std::string run_id;
  std::uint32_t run_index = 0;

  // Not written: what the read side joins on.
  std::string token_fp;  // of the client's requests during the play
  std::string item_type, title, show_key, show_title;  // from enrichment; empty: not enriched
  std::string play_queue_id;  // the queue that started it, where one did
};

// Writes `play` as one JSON object. `media_json` is the enrichment join, spliced as is;
// empty writes null.
void write_play(const Play& play, base::JsonWriter& out, std::string_view media_json = {});

struct PlayOptions {
  std::int64_t idle_timeout_ms = 5 * 60'000;     // a session without an update ends
  std::int64_t scrobble_window_ms = 5 * 60'000;  // a scrobble this long after the end counts
  // A search this long before the start (or before the creation of the play queue that
  // started the play) counts, when the item, its season or its show was among its results.
  std::int64_t search_window_ms = 10 * 60'000;
  std::int64_t decision_window_ms = 5 * 60'000;  // a decision this long before the start counts
  std::int64_t seek_threshold_ms = 30'000;       // an unexplained jump beyond this is a seek
  std::int64_t skip_tolerance_ms = 5'000;        // an unexplained jump beyond this skips a marker
  std::int64_t marker_slack_ms = 5'000;          // the last part of a marker counts as its end
  // How late one side may report a play another side already ended (the server's events
  // and the proxy's are committed in either order around a stop or an item change).
  std::int64_t side_grace_ms = 15'000;
};

// Rebuilds plays from events given in time order (the store's id order). Rows come out
// through `emit` once their session is over and its scrobble window has passed, in order of
// `ended_at`. Single-threaded; the callback must not call back into the builder.
class PlayBuilder {
 public:
  PlayBuilder(PlayOptions options, ItemLookup markers, std::function<void(const Play&)> emit);
  ~PlayBuilder();
  PlayBuilder(const PlayBuilder&) = delete;
  PlayBuilder& operator=(const PlayBuilder&) = delete;

  void add(const PlayInput& event);

  // Called with each play as it ends, before it waits for its scrobble window: what joins
  // plays to runs, queues and searches sees a play at once and may annotate it.
  void on_close(std::function<void(Play&)> f) { on_close_ = std::move(f); }

  // The input is complete up to `now_ms` (a builder fed as events arrive, with the clock):
  // sessions idle longer than the timeout by then end, and rows whose windows have passed
  // come out. The events' own time does not move, so events older than it still count as
  // of their time.
  void advance_to(std::int64_t now_ms) { expire(std::max(now_, now_ms)); }

  // End of input: closes every open session and emits every row still held. `end_ms` is the
  // time up to which the input is complete (the export's --until, or now) when known:
  // sessions idle longer than the timeout at that time ended by `timeout`, the others by
  // `end_of_data`. The builder is empty afterwards and can be fed again.
  void finish(std::optional<std::int64_t> end_ms = std::nullopt);

  // The plays not emitted yet (open, or waiting for their windows): the client of each and
  // the sides that have seen it so far. A builder fed as events arrive counts them with this.
  void for_each_held(const std::function<void(std::string_view client_id, PlaySource)>& f) const;

  // A play in progress, as it stands: its row so far (client, item, start, account,
  // enrichment's titles), the state and position of its most precise side, and who saw it.
  struct OpenPlay {
    const Play* row;
    TimelineState state;
    std::optional<std::int64_t> position_ms;
    std::int64_t last_ts;
    PlaySource source;
  };
  void for_each_open(const std::function<void(const OpenPlay&)>& f) const;
  // The plays that have ended but wait for their scrobble window before they come out.
  void for_each_pending(const std::function<void(const Play&)>& f) const;

  // The account learnt for a token fingerprint (see `accounts_`); null when none.
  struct Account {
    std::optional<std::int64_t> id;
    std::string name;
  };
  const Account* account_of(std::string_view token_fp) const;

  // Sizes of what is held, to check that memory does not grow with the input.
  std::size_t open_sessions() const { return by_idle_.size(); }
  std::size_t pending_plays() const { return pending_.size(); }
  std::size_t tracked_clients() const;

 private:
  struct Session;
  struct ClientState;
  struct ClientMap;

  void advance(std::int64_t now);
  void expire(std::int64_t now);
  void flush(std::int64_t now, bool all);
  void on_update(const PlayInput& event, std::size_t side);
  bool late_report(const ClientState& c, const PlayInput& event, std::size_t side) const;
  void on_scrobble(const PlayInput& event, bool scrobbled);
  void on_decision(const PlayInput& event);
  void on_search(const PlayInput& event);
  void on_queue(const PlayInput& event);
  void match_search(ClientState& c, Session& s);
  void learn_account(const Play& row);
  ClientState& client(std::string_view id, std::int64_t now);
  void touch(ClientState& c, std::int64_t now);
  void start(ClientState& c, const PlayInput& event, std::size_t side);
  void on_rating_key(ClientState& c, Session& s);
  void update(ClientState& c, const PlayInput& event, std::size_t side);
  void close(ClientState& c, PlayEnd why);

  PlayOptions options_;
  ItemLookup markers_;
  std::function<void(const Play&)> emit_;
  std::function<void(Play&)> on_close_;
  std::unique_ptr<ClientMap> clients_;
  std::list<ClientState*> by_activity_;  // every tracked client, least recently active first
  std::list<ClientState*> by_idle_;  // clients with an open session, least recently updated first
  // Closed rows waiting for their scrobble window, by (ended_at, close order).
  std::map<std::pair<std::int64_t, std::uint64_t>, Play> pending_;
  std::uint64_t closed_ = 0;
  // The account behind a token fingerprint, learnt where a snapshot named the account of a
  // client whose open play the proxy heard with that token (one per Plex Home profile).
  std::unordered_map<std::string, Account> accounts_;
  std::int64_t now_ = std::numeric_limits<std::int64_t>::min();
};

}  // namespace plextap::analytics
