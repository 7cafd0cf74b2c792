// Session reconstruction (DESIGN.md section 7) on synthetic timelines: each test builds the
// events a Plex client would send and checks the rows that come out.
// Long on purpose: one test per rule of section 7, next to the others it interacts with.
#include "analytics/plays.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

namespace plextap::analytics {
namespace {

constexpr std::int64_t kT0 = 1'732'449'600'000;  // 2024-11-24T12:00:00.000Z
constexpr std::int64_t kSec = 1000;
constexpr std::int64_t kMin = 60 * kSec;

// Feeds events to a builder and collects its rows.
struct Feed {
  std::vector<Play> rows;
  std::unordered_map<std::string, ItemFacts> markers;
  PlayBuilder builder;

  explicit Feed(PlayOptions options = {})
      : builder(
            options,
            [this](std::string_view rk) -> const ItemFacts* {
              auto it = markers.find(std::string(rk));
              return it == markers.end() ? nullptr : &it->second;
            },
            [this](const Play& p) { rows.push_back(p); }) {}

  void timeline(std::int64_t ts, std::string_view client, std::string_view rk,
                std::string_view state, std::optional<std::int64_t> pos,
                std::optional<std::int64_t> duration = std::nullopt, std::string_view pqi = {}) {
    PlayInput e;
    e.ts_ms = ts;
    e.kind = Kind::timeline;
    e.client_id = client;
    e.rating_key = rk;
    e.state = timeline_state_from(state);
    e.time_ms = pos;
    e.duration_ms = duration;
    e.play_queue_item_id = pqi;
    builder.add(e);
  }

  // Plays `rk` from `pos` for `seconds`, one `playing` update every 10 s (the Plex default),
  // the first at `ts`; returns the time of the last update.
  std::int64_t play(std::int64_t ts, std::string_view client, std::string_view rk, std::int64_t pos,
                    std::int64_t seconds, std::optional<std::int64_t> duration = std::nullopt,
                    std::string_view pqi = {}) {
    for (std::int64_t s = 0; s <= seconds; s += 10)
      timeline(ts + s * kSec, client, rk, "playing", pos + s * kSec, duration, pqi);
    return ts + seconds * kSec;
  }

  void other(std::int64_t ts, Kind kind, std::string_view client, std::string_view rk = {}) {
    PlayInput e;
    e.ts_ms = ts;
    e.kind = kind;
    e.client_id = client;
    e.rating_key = rk;
    builder.add(e);
  }

  // A search whose results hold the rating keys `keys`; its id is the next one.
  void search(std::int64_t ts, std::string_view client, std::string_view query,
              std::int64_t results, std::vector<std::string_view> keys = {}) {
    PlayInput e;
    e.ts_ms = ts;
    e.id = ++last_id;
    e.kind = Kind::search;
    e.client_id = client;
    e.query = query;
    e.result_count = results;
    e.result_keys = keys;
    builder.add(e);
  }

  // A play queue call: `create` made from `source` (its items `items`), or another op.
  void queue(std::int64_t ts, std::string_view client, std::string_view op, std::string_view id,
             std::string_view source, std::vector<std::string_view> items,
             std::string_view selected_item = {}) {
    PlayInput e;
    e.ts_ms = ts;
    e.id = ++last_id;
    e.kind = Kind::playqueue;
    e.client_id = client;
    e.op = op;
    e.play_queue_id = id;
    e.rating_key = source;
    e.item_keys = items;
    e.selected_item_id = selected_item;
    builder.add(e);
  }
  std::uint64_t last_id = 0;

  void decision(std::int64_t ts, std::string_view client, std::string_view rk,
                std::string_view video) {
    PlayInput e;
    e.ts_ms = ts;
    e.kind = Kind::decision;
    e.client_id = client;
    e.rating_key = rk;
    e.session = "sess-1";
    e.general_code = 1000;
    e.general_text = "Direct play OK.";
    e.direct_play = false;
    e.direct_stream = true;
    e.video_decision = video;
    e.audio_decision = "copy";
    builder.add(e);
  }

  const std::vector<Play>& finish() {
    builder.finish();
    return rows;
  }
};

// An episode of 1400 s with an intro at 30–90 s and credits at 1300–1400 s.
ItemFacts episode_markers() {
  ItemFacts m;
  m.markers = {{"intro", 30 * kSec, 90 * kSec},
               {"commercial", 500 * kSec, 560 * kSec},
               {"credits", 1300 * kSec, 1400 * kSec}};
  m.duration_ms = 1400 * kSec;
  return m;
}

std::string json_of(const Play& p, std::string_view media = {}) {
  std::string s;
  base::JsonWriter w(s);
  write_play(p, w, media);
  return s;
}

TEST(Plays, StraightPlayToTheEnd) {
  Feed f;
  std::int64_t last = f.play(kT0, "c1", "100", 0, 600, 600 * kSec, "7");
  f.timeline(last + 2 * kSec, "c1", "100", "stopped", 600 * kSec, 600 * kSec, "7");
  EXPECT_EQ(f.builder.open_sessions(), 0u);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 1u);
  const Play& p = rows[0];
  EXPECT_EQ(p.client_id, "c1");
  EXPECT_EQ(p.rating_key, "100");
  EXPECT_EQ(p.play_queue_item_id, "7");
  EXPECT_EQ(p.started_at_ms, kT0);
  EXPECT_EQ(p.ended_at_ms, kT0 + 602 * kSec);
  EXPECT_EQ(p.ended_by, PlayEnd::stopped);
  EXPECT_EQ(p.watched_ms, 602 * kSec);  // the last interval, playing → stopped, counts
  EXPECT_EQ(p.max_position_ms, 600 * kSec);
  EXPECT_EQ(p.duration_ms, 600 * kSec);
  EXPECT_EQ(p.completion, 1.0);
  EXPECT_EQ(p.pauses, 0u);
  EXPECT_EQ(p.seeks_forward + p.seeks_back, 0u);
  EXPECT_FALSE(p.scrobbled);
  EXPECT_FALSE(p.decision);
  EXPECT_FALSE(p.search);
  // No markers known for the item: the marker fields are unknown, not false.
  EXPECT_FALSE(p.intro_skipped);
  EXPECT_FALSE(p.credits_skipped);
  EXPECT_FALSE(p.stopped_in_credits);
}

TEST(Plays, WritesEveryFieldAsJson) {
  Play p;
  p.client_id = "c1";
  p.rating_key = "100";
  p.play_queue_item_id = "7";
  p.started_at_ms = kT0;
  p.ended_at_ms = kT0 + 61'500;
  p.ended_by = PlayEnd::next_item;
  p.duration_ms = 120'000;
  p.watched_ms = 60'000;
  p.max_position_ms = 61'000;
  p.completion = 0.5083;
  p.pauses = 1;
  p.seeks_forward = 2;
  p.seeks_back = 1;
  p.intro_skipped = true;
  p.credits_skipped = false;
  p.scrobbled = true;
  p.decision = PlayDecision{kT0 - 1000, "s\"1", 1000, "ok", true, false, "copy", "", "5"};
  p.search = PlaySearch{18'014'398'509'481'985u, kT0 - 60'000, "the office", 12};
  p.chosen_media_id = "5";
  p.video_resolution = "4k";
  p.hdr = "dolby_vision";
  p.dovi_profile = 8;
  p.run_id = "r1";
  p.run_index = 2;
  EXPECT_EQ(json_of(p, R"({"title":"x"})"),
            R"({"client_id":"c1","rating_key":"100","play_queue_item_id":7,)"
            R"("started_at":"2024-11-24T12:00:00.000Z","ended_at":"2024-11-24T12:01:01.500Z",)"
            R"("ended_by":"next_item","duration_ms":120000,"watched_ms":60000,)"
            R"("max_position_ms":61000,"completion":0.5083,"pauses":1,"seeks":3,)"
            R"("seeks_forward":2,"seeks_back":1,"intro_skipped":true,"credits_skipped":false,)"
            R"("stopped_in_credits":null,"scrobbled":true,)"
            R"("decision":{"ts":"2024-11-24T11:59:59.000Z","session":"s\"1","general_code":1000,)"
            R"("general_text":"ok","direct_play":true,"direct_stream":false,"video":"copy",)"
            R"("audio":null},)"
            R"("search":{"id":"18014398509481985","query":"the office","result_count":12,)"
            R"("ts":"2024-11-24T11:59:00.000Z"},)"
            R"("media":{"title":"x"},"source":"proxy","user":null,"location":null,)"
            R"("bandwidth_kbps":null,"player_address":null,"chosen_media_id":"5",)"
            R"("video_resolution":"4k","hdr":"dolby_vision","dovi_profile":8,"run_id":"r1",)"
            R"("run_index":2})");

  // Unknowns are null; a play-queue item id that is not a number stays a string.
  Play q;
  q.client_id = "c2";
  q.play_queue_item_id = "abc";
  std::string s = json_of(q);
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  ASSERT_EQ(parser.parse(s).get(e), simdjson::SUCCESS) << s;
  EXPECT_TRUE(e["rating_key"].is_null());
  EXPECT_EQ(std::string_view(e["play_queue_item_id"].get_string().value()), "abc");
  EXPECT_TRUE(e["duration_ms"].is_null());
  EXPECT_TRUE(e["completion"].is_null());
  EXPECT_TRUE(e["decision"].is_null());
  EXPECT_TRUE(e["search"].is_null());
  EXPECT_TRUE(e["media"].is_null());
  EXPECT_EQ(std::string_view(e["ended_by"].get_string().value()), "end_of_data");
}

TEST(Plays, PauseAndResume) {
  Feed f;
  std::int64_t t = f.play(kT0, "c1", "100", 0, 60);  // watched 60 s
  // 10 s more, then paused for two minutes, the client repeating the paused state.
  for (std::int64_t s = 10; s <= 120; s += 10)
    f.timeline(t + s * kSec, "c1", "100", "paused", 70 * kSec);
  t += 130 * kSec;
  // Buffering for 20 s does not count as watching either.
  f.timeline(t, "c1", "100", "buffering", 70 * kSec);
  f.timeline(t + 10 * kSec, "c1", "100", "buffering", 70 * kSec);
  t = f.play(t + 20 * kSec, "c1", "100", 70 * kSec, 60);  // watched 60 s
  f.timeline(t + 10 * kSec, "c1", "100", "paused", 140 * kSec);
  f.timeline(t + 20 * kSec, "c1", "100", "stopped", 140 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].pauses, 2u);              // repeated paused updates are one pause
  EXPECT_EQ(rows[0].watched_ms, 140 * kSec);  // 60 + 10 + 60 + 10, of 290 s in the session
  EXPECT_EQ(rows[0].ended_at_ms - rows[0].started_at_ms, 290 * kSec);
  EXPECT_EQ(rows[0].max_position_ms, 140 * kSec);
  EXPECT_EQ(rows[0].seeks_forward + rows[0].seeks_back, 0u);
  EXPECT_EQ(rows[0].ended_by, PlayEnd::stopped);
  EXPECT_FALSE(rows[0].completion);  // no duration known
}

TEST(Plays, SeekForwardAndBack) {
  Feed f;
  std::int64_t t = f.play(kT0, "c1", "100", 0, 30, 3600 * kSec);
  // Updates 60 s apart that moved 60 s: playback explains them, no seek.
  f.timeline(t + 60 * kSec, "c1", "100", "playing", 90 * kSec);
  f.timeline(t + 120 * kSec, "c1", "100", "playing", 150 * kSec);
  t += 120 * kSec;
  // 10 s later, 5 minutes further: a forward seek.
  f.timeline(t + 10 * kSec, "c1", "100", "playing", 460 * kSec);
  // 10 s later, 2 minutes back: a back seek.
  f.timeline(t + 20 * kSec, "c1", "100", "playing", 350 * kSec);
  // 15 s back is under the threshold.
  f.timeline(t + 30 * kSec, "c1", "100", "playing", 335 * kSec);
  // While paused nothing explains a move: 40 s forward between paused updates is a seek.
  f.timeline(t + 40 * kSec, "c1", "100", "paused", 345 * kSec);
  f.timeline(t + 50 * kSec, "c1", "100", "paused", 385 * kSec);
  f.timeline(t + 60 * kSec, "c1", "100", "stopped", 385 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].seeks_forward, 2u);
  EXPECT_EQ(rows[0].seeks_back, 1u);
  EXPECT_EQ(rows[0].max_position_ms, 460 * kSec);
  EXPECT_NE(json_of(rows[0]).find(R"("seeks":3,"seeks_forward":2,"seeks_back":1)"),
            std::string::npos);
}

TEST(Plays, IntroSkipWithMarkers) {
  Feed f;
  f.markers["200"] = episode_markers();
  f.markers["201"] = episode_markers();
  // c1 plays into the intro and presses "skip intro": 40 s → 90 s in 10 s.
  std::int64_t t = f.play(kT0, "c1", "200", 0, 40);
  f.timeline(t + 10 * kSec, "c1", "200", "playing", 90 * kSec);
  t = f.play(t + 20 * kSec, "c1", "200", 100 * kSec, 30);
  f.timeline(t + 1 * kSec, "c1", "200", "stopped", 131 * kSec);
  // c2 watches through the intro.
  t = f.play(t + 10 * kSec, "c2", "201", 0, 120);
  f.timeline(t + 1 * kSec, "c2", "201", "stopped", 121 * kSec);
  // c3 plays an item nobody enriched.
  t = f.play(t + 10 * kSec, "c3", "999", 0, 120);
  f.timeline(t + 1 * kSec, "c3", "999", "stopped", 121 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 3u);
  for (const Play& p : rows) {
    if (p.client_id == "c1") {
      EXPECT_EQ(p.intro_skipped, true);
      EXPECT_EQ(p.duration_ms, 1400 * kSec);  // from enrichment, no timeline gave one
      EXPECT_EQ(p.credits_skipped, false);
      EXPECT_EQ(p.stopped_in_credits, false);
    } else if (p.client_id == "c2") {
      EXPECT_EQ(p.intro_skipped, false);
      EXPECT_EQ(p.seeks_forward, 0u);
    } else {
      EXPECT_EQ(p.intro_skipped, std::nullopt);
      EXPECT_EQ(p.credits_skipped, std::nullopt);
      EXPECT_EQ(p.stopped_in_credits, std::nullopt);
    }
  }
}

TEST(Plays, IntroSkipShorterThanASeekStillCounts) {
  Feed f;
  f.markers["200"] = episode_markers();
  // Skip pressed at 75 s: 10 s later the position is 95 s, 15 s more than playback explains.
  std::int64_t t = f.play(kT0, "c1", "200", 0, 70);
  f.timeline(t + 10 * kSec, "c1", "200", "playing", 95 * kSec);
  f.timeline(t + 20 * kSec, "c1", "200", "stopped", 105 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].intro_skipped, true);
  EXPECT_EQ(rows[0].seeks_forward, 0u);
}

TEST(Plays, CreditsSkip) {
  Feed f;
  f.markers["300"] = episode_markers();
  f.markers["301"] = episode_markers();
  f.markers["302"] = episode_markers();
  // c1: into the credits, then "play next" starts the next episode in the queue.
  std::int64_t t = f.play(kT0, "c1", "300", 1250 * kSec, 60, 1400 * kSec, "1");
  f.timeline(t + 5 * kSec, "c1", "301", "playing", 0, 1400 * kSec, "2");
  f.timeline(t + 15 * kSec, "c1", "301", "stopped", 10 * kSec, 1400 * kSec, "2");
  // c2: seeks from before the credits to their very end.
  t = f.play(t + 20 * kSec, "c2", "302", 1200 * kSec, 20, 1400 * kSec);
  f.timeline(t + 10 * kSec, "c2", "302", "playing", 1398 * kSec, 1400 * kSec);
  f.timeline(t + 11 * kSec, "c2", "302", "stopped", 1399 * kSec, 1400 * kSec);
  // c3: watches the credits through to the end of the file.
  t = f.play(t + 20 * kSec, "c3", "300", 1280 * kSec, 120, 1400 * kSec);
  f.timeline(t + 1 * kSec, "c3", "300", "stopped", 1400 * kSec, 1400 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 4u);
  int checked = 0;
  for (const Play& p : rows) {
    SCOPED_TRACE(p.client_id + "/" + p.rating_key);
    if (p.client_id == "c1" && p.rating_key == "300") {
      EXPECT_EQ(p.ended_by, PlayEnd::next_item);
      EXPECT_EQ(p.credits_skipped, true);
      EXPECT_EQ(p.stopped_in_credits, false);
      ++checked;
    } else if (p.client_id == "c2") {
      EXPECT_EQ(p.credits_skipped, true);
      EXPECT_EQ(p.stopped_in_credits, false);
      ++checked;
    } else if (p.client_id == "c3") {
      EXPECT_EQ(p.credits_skipped, false);
      EXPECT_EQ(p.stopped_in_credits, false);
      EXPECT_EQ(p.completion, 1.0);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3);
}

TEST(Plays, StoppedInCredits) {
  Feed f;
  f.markers["300"] = episode_markers();
  std::int64_t t = f.play(kT0, "c1", "300", 1250 * kSec, 70, 1400 * kSec);
  f.timeline(t + 5 * kSec, "c1", "300", "stopped", 1325 * kSec, 1400 * kSec);
  // The same position on an item without markers says nothing.
  t = f.play(t + 10 * kSec, "c2", "400", 1250 * kSec, 70, 1400 * kSec);
  f.timeline(t + 5 * kSec, "c2", "400", "stopped", 1325 * kSec, 1400 * kSec);
  // Stopped before the credits.
  f.markers["301"] = episode_markers();
  t = f.play(t + 10 * kSec, "c3", "301", 1200 * kSec, 60, 1400 * kSec);
  f.timeline(t + 5 * kSec, "c3", "301", "stopped", 1265 * kSec, 1400 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 3u);
  for (const Play& p : rows) {
    SCOPED_TRACE(p.client_id);
    if (p.client_id == "c1") {
      EXPECT_EQ(p.stopped_in_credits, true);
      EXPECT_EQ(p.credits_skipped, false);
      EXPECT_DOUBLE_EQ(*p.completion, 0.9464);  // 1325 / 1400, 4 decimals
    } else if (p.client_id == "c2") {
      EXPECT_EQ(p.stopped_in_credits, std::nullopt);
    } else {
      EXPECT_EQ(p.stopped_in_credits, false);
    }
  }
}

TEST(Plays, TimeoutClosesSessionWithoutStop) {
  Feed f;
  std::int64_t t = f.play(kT0, "c1", "100", 0, 60);
  EXPECT_EQ(f.builder.open_sessions(), 1u);
  // Another client, 6 minutes later: c1's session is over, and as its scrobble window has
  // passed too, its row comes out at once, without waiting for the end of the input.
  f.timeline(t + 6 * kMin, "c2", "500", "playing", 0);
  EXPECT_EQ(f.builder.open_sessions(), 1u);
  ASSERT_EQ(f.rows.size(), 1u);
  f.timeline(t + 10 * kMin + 1, "c2", "500", "playing", 0);
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(f.rows[0].client_id, "c1");
  EXPECT_EQ(f.rows[0].ended_by, PlayEnd::timeout);
  EXPECT_EQ(f.rows[0].ended_at_ms, t);  // its last update, not when it expired
  EXPECT_EQ(f.rows[0].watched_ms, 60 * kSec);
  // c2's two updates were 4 minutes apart: one session, still open at the end of data.
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].client_id, "c2");
  EXPECT_EQ(rows[1].ended_by, PlayEnd::end_of_data);
}

TEST(Plays, GapLongerThanTimeoutStartsNewSession) {
  Feed f;
  f.play(kT0, "c1", "100", 0, 30);
  // Exactly 5 minutes later: the same session.
  f.timeline(kT0 + 30 * kSec + 5 * kMin, "c1", "100", "playing", 40 * kSec);
  // 5 minutes and 1 ms later: a new one.
  f.timeline(kT0 + 30 * kSec + 10 * kMin + 1, "c1", "100", "playing", 50 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].ended_by, PlayEnd::timeout);
  EXPECT_EQ(rows[0].ended_at_ms, kT0 + 30 * kSec + 5 * kMin);
  EXPECT_EQ(rows[0].watched_ms, 30 * kSec + 5 * kMin);  // capped at the timeout
  EXPECT_EQ(rows[1].started_at_ms, kT0 + 30 * kSec + 10 * kMin + 1);
}

TEST(Plays, FinishWithEndTimeTellsTimeoutFromEndOfData) {
  Feed f;
  f.play(kT0, "c1", "100", 0, 30);
  f.play(kT0 + 4 * kMin, "c2", "101", 0, 30);
  f.builder.finish(kT0 + 9 * kMin);
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_EQ(f.rows[0].ended_by, PlayEnd::timeout);      // idle 8.5 minutes at the end
  EXPECT_EQ(f.rows[1].ended_by, PlayEnd::end_of_data);  // idle 4.5 minutes
  EXPECT_EQ(f.builder.open_sessions(), 0u);
  EXPECT_EQ(f.builder.tracked_clients(), 0u);
}

TEST(Plays, TwoClientsInterleaved) {
  Feed f;
  // c1 plays item 100, c2 item 200, updates alternating every 5 s.
  for (std::int64_t s = 0; s <= 120; s += 10) {
    f.timeline(kT0 + s * kSec, "c1", "100", "playing", s * kSec, 1000 * kSec);
    f.timeline(kT0 + (s + 5) * kSec, "c2", "200", s < 60 ? "playing" : "paused",
               (1000 + std::min<std::int64_t>(s, 60)) * kSec, 2000 * kSec);
  }
  EXPECT_EQ(f.builder.open_sessions(), 2u);
  f.timeline(kT0 + 130 * kSec, "c1", "100", "stopped", 130 * kSec, 1000 * kSec);
  EXPECT_EQ(f.builder.open_sessions(), 1u);
  f.timeline(kT0 + 135 * kSec, "c2", "200", "stopped", 1060 * kSec, 2000 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 2u);
  // In order of ending.
  EXPECT_EQ(rows[0].client_id, "c1");
  EXPECT_EQ(rows[0].rating_key, "100");
  EXPECT_EQ(rows[0].watched_ms, 130 * kSec);
  EXPECT_EQ(rows[0].pauses, 0u);
  EXPECT_EQ(rows[0].max_position_ms, 130 * kSec);
  EXPECT_EQ(rows[1].client_id, "c2");
  EXPECT_EQ(rows[1].rating_key, "200");
  EXPECT_EQ(rows[1].started_at_ms, kT0 + 5 * kSec);
  EXPECT_EQ(rows[1].watched_ms, 60 * kSec);
  EXPECT_EQ(rows[1].pauses, 1u);
  EXPECT_EQ(rows[1].max_position_ms, 1060 * kSec);
  EXPECT_EQ(rows[1].seeks_forward + rows[1].seeks_back, 0u);
}

TEST(Plays, NextEpisodeInOnePlayQueue) {
  Feed f;
  std::int64_t t = f.play(kT0, "c1", "300", 0, 60, 1400 * kSec, "11");
  // An update without the play-queue item id still belongs to the episode.
  f.timeline(t + 10 * kSec, "c1", "300", "playing", 70 * kSec);
  // The queue moves on to the next episode.
  t = f.play(t + 20 * kSec, "c1", "301", 0, 30, 1400 * kSec, "12");
  // A late `stopped` for the first episode neither ends the second nor makes a row.
  f.timeline(t + 1 * kSec, "c1", "300", "stopped", 75 * kSec, 1400 * kSec, "11");
  EXPECT_EQ(f.builder.open_sessions(), 1u);
  t = f.play(t + 10 * kSec, "c1", "301", 40 * kSec, 20, 1400 * kSec, "12");
  f.timeline(t + 10 * kSec, "c1", "301", "stopped", 70 * kSec, 1400 * kSec, "12");
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].rating_key, "300");
  EXPECT_EQ(rows[0].play_queue_item_id, "11");
  EXPECT_EQ(rows[0].ended_by, PlayEnd::next_item);
  EXPECT_EQ(rows[0].ended_at_ms, kT0 + 70 * kSec);
  EXPECT_EQ(rows[0].max_position_ms, 70 * kSec);
  EXPECT_EQ(rows[1].rating_key, "301");
  EXPECT_EQ(rows[1].play_queue_item_id, "12");
  EXPECT_EQ(rows[1].ended_by, PlayEnd::stopped);
  EXPECT_EQ(rows[1].started_at_ms, kT0 + 80 * kSec);
  EXPECT_EQ(rows[1].max_position_ms, 70 * kSec);
}

TEST(Plays, ScrobbleAttached) {
  Feed f;
  // c1: marked watched 2 minutes after stopping (below, once c2 has played).
  std::int64_t t = f.play(kT0, "c1", "100", 0, 60);
  f.timeline(t + 1 * kSec, "c1", "100", "stopped", 61 * kSec);
  std::int64_t c1_end = t + 1 * kSec;
  // c2: marked watched while playing.
  t = f.play(t + 10 * kSec, "c2", "200", 0, 30);
  f.other(t + 1 * kSec, Kind::scrobble, "c2", "200");
  f.timeline(t + 10 * kSec, "c2", "200", "stopped", 40 * kSec);
  f.other(c1_end + 2 * kMin, Kind::scrobble, "c1", "100");
  // c3: a scrobble of the same item on another client, or of another item on the same
  // client, is not this play's; 6 minutes after stopping (below) is too late.
  t = f.play(c1_end + 3 * kMin, "c3", "300", 0, 30);
  f.timeline(t + 1 * kSec, "c3", "300", "stopped", 31 * kSec);
  std::int64_t c3_end = t + 1 * kSec;
  f.other(t + 2 * kSec, Kind::scrobble, "c9", "300");
  f.other(t + 3 * kSec, Kind::scrobble, "c3", "301");
  // c4: scrobbled, then unscrobbled: the last one wins.
  t = f.play(t + 10 * kSec, "c4", "400", 0, 30);
  f.timeline(t + 1 * kSec, "c4", "400", "stopped", 31 * kSec);
  f.other(t + 10 * kSec, Kind::scrobble, "c4", "400");
  f.other(t + 20 * kSec, Kind::unscrobble, "c4", "400");
  f.other(c3_end + 6 * kMin, Kind::scrobble, "c3", "300");
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 4u);
  for (const Play& p : rows) {
    SCOPED_TRACE(p.client_id);
    EXPECT_EQ(p.scrobbled, p.client_id == "c1" || p.client_id == "c2");
  }
}

TEST(Plays, SearchWithinTenMinutesAttached) {
  Feed f;
  f.search(kT0, "c1", "the office", 7, {"100"});
  f.search(kT0, "c2", "columbo", 3, {"200"});
  f.search(kT0 + 2 * kMin, "c9", "not mine", 1, {"100"});
  // c2 keeps busy meanwhile, so its old search is still known, and must be judged too old.
  f.decision(kT0 + 5 * kMin, "c2", "999", "copy");
  // c1 starts 9 minutes after its search, c2 11 minutes after.
  std::int64_t t = f.play(kT0 + 9 * kMin, "c1", "100", 0, 20);
  f.timeline(t + 1 * kSec, "c1", "100", "stopped", 21 * kSec);
  t = f.play(kT0 + 11 * kMin, "c2", "200", 0, 20);
  f.timeline(t + 1 * kSec, "c2", "200", "stopped", 21 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_EQ(rows[0].client_id, "c1");
  ASSERT_TRUE(rows[0].search);
  EXPECT_EQ(rows[0].search->query, "the office");
  EXPECT_EQ(rows[0].search->result_count, 7);
  EXPECT_EQ(rows[0].search->ts_ms, kT0);
  EXPECT_EQ(rows[1].client_id, "c2");
  EXPECT_FALSE(rows[1].search);
}

TEST(Plays, LastSearchBeforeTheStartWins) {
  Feed f;
  f.search(kT0, "c1", "office", 1, {"100"});
  f.search(kT0 + 30 * kSec, "c1", "the office", 7, {"300", "100"});
  std::int64_t t = f.play(kT0 + 1 * kMin, "c1", "100", 0, 20);
  // A search during the session is for a later play, not this one.
  f.search(t, "c1", "parks", 2, {"100"});
  f.timeline(t + 1 * kSec, "c1", "100", "stopped", 21 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_TRUE(rows[0].search);
  EXPECT_EQ(rows[0].search->query, "the office");
}

// The latest search counts only when the item, its season or its show was among its
// results: a later search for something else does not take the play.
TEST(Plays, SearchCountsOnlyWhenItsResultsHeldTheItem) {
  Feed f;
  ItemFacts episode;
  episode.type = "episode";
  episode.parent_rating_key = "210";
  episode.grandparent_rating_key = "200";
  f.markers["201"] = episode;
  f.search(kT0, "c1", "the office", 3, {"200"});  // the show
  f.search(kT0 + 1 * kMin, "c1", "parks", 2, {"900", "901"});
  f.search(kT0 + 2 * kMin, "c2", "nothing", 0);
  std::int64_t t = f.play(kT0 + 3 * kMin, "c1", "201", 0, 20);
  f.timeline(t + 1 * kSec, "c1", "201", "stopped", 21 * kSec);
  t = f.play(kT0 + 3 * kMin, "c2", "201", 0, 20);
  f.timeline(t + 1 * kSec, "c2", "201", "stopped", 21 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_TRUE(rows[0].search) << rows[0].client_id;
  EXPECT_EQ(rows[0].search->query, "the office");
  EXPECT_EQ(rows[0].search->id, 1u);
  EXPECT_FALSE(rows[1].search);  // c2's search found nothing
}

// A queue made from a search result carries that search to every play it starts, however
// long after the search (an evening of episodes from one search).
TEST(Plays, SearchThroughThePlayQueueItCreated) {
  Feed f;
  f.search(kT0, "c1", "the office", 3, {"200"});
  f.queue(kT0 + 1 * kMin, "c1", "create", "q1", "200", {"201", "202", "203"}, "7001");
  std::int64_t t = kT0 + 2 * kMin;
  for (std::string_view rk : {"201", "202", "203"}) {
    t = f.play(t, "c1", rk, 0, 600, 1'400'000) + 10 * kSec;
  }
  // Another client's queue of the same items is not c1's.
  f.play(t, "c2", "201", 0, 20);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 4u);
  for (const Play& p : rows) {
    SCOPED_TRACE(p.client_id + " " + p.rating_key);
    if (p.client_id == "c1") {
      ASSERT_TRUE(p.search);
      EXPECT_EQ(p.search->query, "the office");
      EXPECT_EQ(p.play_queue_id, "q1");
    } else {
      EXPECT_FALSE(p.search);
      EXPECT_TRUE(p.play_queue_id.empty());
    }
  }
}

// The version played: the snapshot's, else the decision's, else the only one; its picture
// from enrichment.
TEST(Plays, ChosenVersionAndItsPicture) {
  Feed f;
  ItemFacts two;
  two.versions = {{"11", "1080", "", std::nullopt}, {"12", "4k", "dolby_vision", 8}};
  f.markers["100"] = two;
  ItemFacts one;
  one.versions = {{"21", "720", "", std::nullopt}};
  f.markers["200"] = one;
  f.markers["300"] = two;
  // c1: a decision for the 4k version.
  PlayInput d;
  d.ts_ms = kT0 - kSec;
  d.kind = Kind::decision;
  d.client_id = "c1";
  d.rating_key = "100";
  d.chosen_media_id = "12";
  f.builder.add(d);
  std::int64_t t = f.play(kT0, "c1", "100", 0, 20);
  f.timeline(t + kSec, "c1", "100", "stopped", 21 * kSec);
  // c2: the item has one version.
  t = f.play(t, "c2", "200", 0, 20);
  f.timeline(t + kSec, "c2", "200", "stopped", 21 * kSec);
  // c3: two versions, nothing names one.
  t = f.play(t, "c3", "300", 0, 20);
  f.timeline(t + kSec, "c3", "300", "stopped", 21 * kSec);
  auto rows = f.finish();
  std::sort(rows.begin(), rows.end(),
            [](const Play& a, const Play& b) { return a.client_id < b.client_id; });
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].chosen_media_id, "12");
  EXPECT_EQ(rows[0].video_resolution, "4k");
  EXPECT_EQ(rows[0].hdr, "dolby_vision");
  EXPECT_EQ(rows[0].dovi_profile, 8);
  EXPECT_EQ(rows[1].chosen_media_id, "21");
  EXPECT_EQ(rows[1].video_resolution, "720");
  EXPECT_EQ(rows[1].hdr, "");
  EXPECT_EQ(rows[2].chosen_media_id, "");
  EXPECT_EQ(rows[2].video_resolution, "");
}

// A shared TV switching Plex Home profiles: each play is its profile's, told by the snapshot
// of it, or, where no snapshot was taken, by the token its requests carried.
TEST(Plays, WhoWatchedIsThePlaysOwnAccount) {
  Feed f;
  auto update = [&](std::int64_t ts, Kind kind, std::string_view rk, std::string_view fp,
                    std::optional<std::int64_t> account, std::string_view name) {
    PlayInput e;
    e.ts_ms = ts;
    e.kind = kind;
    e.client_id = "tv";
    e.rating_key = rk;
    e.state = TimelineState::playing;
    e.time_ms = 0;
    e.token_fp = fp;
    e.account_id = account;
    e.user_name = name;
    f.builder.add(e);
  };
  std::int64_t t = kT0;
  update(t, Kind::timeline, "100", "fp-ann", std::nullopt, {});
  update(t + kSec, Kind::session, "100", {}, 1, "Ann");
  t += 10 * kMin;
  update(t, Kind::timeline, "200", "fp-bob", std::nullopt, {});
  update(t + kSec, Kind::session, "200", {}, 2, "Bob");
  t += 10 * kMin;  // the server watch is down from here: no snapshots
  update(t, Kind::timeline, "300", "fp-ann", std::nullopt, {});
  t += 10 * kMin;
  update(t, Kind::timeline, "400", "fp-bob", std::nullopt, {});
  t += 10 * kMin;
  update(t, Kind::timeline, "500", "fp-unknown", std::nullopt, {});
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].user_name, "Ann");
  EXPECT_EQ(rows[1].user_name, "Bob");
  EXPECT_EQ(rows[2].user_name, "Ann");
  EXPECT_EQ(rows[2].account_id, 1);
  EXPECT_EQ(rows[3].user_name, "Bob");
  EXPECT_EQ(rows[4].user_name, "");
  EXPECT_FALSE(rows[4].account_id);
}

TEST(Plays, DecisionAttached) {
  Feed f;
  // c2: a decision for the item 7 minutes before it plays: an earlier playback's.
  f.decision(kT0 - 7 * kMin, "c2", "200", "copy");
  // c1: the decision just before playback, then one for the next episode (preloaded).
  f.decision(kT0 - 2 * kSec, "c1", "100", "transcode");
  std::int64_t t = f.play(kT0, "c1", "100", 0, 30);
  f.decision(t + 1 * kSec, "c1", "101", "directplay");
  f.timeline(t + 2 * kSec, "c1", "100", "stopped", 32 * kSec);
  t = f.play(t + 10 * kSec, "c2", "200", 0, 30);
  f.timeline(t + 2 * kSec, "c2", "200", "stopped", 32 * kSec);
  // c3: a new decision during the session (quality changed) replaces the first.
  f.decision(t + 10 * kSec, "c3", "300", "directplay");
  t = f.play(t + 11 * kSec, "c3", "300", 0, 30);
  f.decision(t + 1 * kSec, "c3", "300", "transcode");
  f.timeline(t + 2 * kSec, "c3", "300", "stopped", 32 * kSec);
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 3u);
  for (const Play& p : rows) {
    SCOPED_TRACE(p.client_id);
    if (p.client_id == "c1") {
      ASSERT_TRUE(p.decision);
      EXPECT_EQ(p.decision->video, "transcode");
      EXPECT_EQ(p.decision->audio, "copy");
      EXPECT_EQ(p.decision->general_code, 1000);
      EXPECT_EQ(p.decision->general_text, "Direct play OK.");
      EXPECT_EQ(p.decision->direct_play, false);
      EXPECT_EQ(p.decision->direct_stream, true);
      EXPECT_EQ(p.decision->session, "sess-1");
      EXPECT_EQ(p.decision->ts_ms, kT0 - 2 * kSec);
    } else if (p.client_id == "c2") {
      EXPECT_FALSE(p.decision);
    } else {
      ASSERT_TRUE(p.decision);
      EXPECT_EQ(p.decision->video, "transcode");
    }
  }
}

TEST(Plays, IgnoresLoneStopAndOtherKinds) {
  Feed f;
  f.timeline(kT0, "c1", "100", "stopped", 10 * kSec);  // no session to end
  f.timeline(kT0, "c1", "", "playing", 10 * kSec);     // names no item
  f.other(kT0, Kind::rate, "c1", "100");
  f.other(kT0, Kind::playqueue, "c1", "100");
  EXPECT_EQ(f.builder.open_sessions(), 0u);
  EXPECT_TRUE(f.finish().empty());
}

// 1,000,000 updates of many short sessions, 50 at a time, each on a new client: half end
// with `stopped`, half are abandoned and time out. What the builder holds must stay bounded
// by the sessions of the last few minutes, and rows must come out during the feed.
TEST(Plays, MemoryStaysBoundedOverAMillionEvents) {
  constexpr int kSlots = 50, kUpdates = 8;
  std::uint64_t rows = 0;
  std::size_t max_open = 0, max_pending = 0, max_clients = 0;
  bool finishing = false;
  PlayBuilder builder({}, nullptr, [&](const Play& p) {
    ++rows;
    if (!finishing) {
      EXPECT_EQ(p.ended_by,
                std::stoi(p.client_id.substr(1)) % 2 ? PlayEnd::timeout : PlayEnd::stopped);
    }
  });
  std::array<int, kSlots> session{}, update{};
  for (int s = 0; s < kSlots; ++s) session[s] = s;
  int next_session = kSlots;
  std::string client, rk;
  std::int64_t ts = kT0;
  for (int i = 0; i < 1'000'000; ++i, ts += 100) {
    int slot = i % kSlots;
    int n = session[slot];
    // Built piecewise: GCC 12 warns (falsely, -Wrestrict) on "c" + std::string here.
    client.clear();
    client.push_back('c');
    client += std::to_string(n);
    rk = std::to_string(1000 + n % 97);
    PlayInput e;
    e.ts_ms = ts;
    e.kind = Kind::timeline;
    e.client_id = client;
    e.rating_key = rk;
    bool last = update[slot] == kUpdates - 1;
    e.state = last && n % 2 == 0 ? TimelineState::stopped : TimelineState::playing;
    e.time_ms = update[slot] * 5000;
    e.duration_ms = 1'800'000;
    builder.add(e);
    if (last) {
      session[slot] = next_session++;
      update[slot] = 0;
    } else {
      ++update[slot];
    }
    if (i % 1000 == 0) {
      max_open = std::max(max_open, builder.open_sessions());
      max_pending = std::max(max_pending, builder.pending_plays());
      max_clients = std::max(max_clients, builder.tracked_clients());
    }
  }
  std::uint64_t before_finish = rows;
  finishing = true;
  builder.finish();
  EXPECT_EQ(rows, static_cast<std::uint64_t>(1'000'000 / kUpdates));
  EXPECT_GT(before_finish, rows * 9 / 10);
  // 40 s sessions, 50 at a time: ~375 end in any 5 minutes, half of them idle until timeout.
  EXPECT_LT(max_open, 500u);
  EXPECT_LT(max_pending, 1000u);
  EXPECT_LT(max_clients, 2000u);
  EXPECT_EQ(builder.open_sessions(), 0u);
  EXPECT_EQ(builder.pending_plays(), 0u);
}

}  // namespace
}  // namespace plextap::analytics
