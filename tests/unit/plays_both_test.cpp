// Plays seen from both sides (DESIGN.md sections 7 and 10): client timelines as the proxy
// records them (capture::build_record), the server's `playing` notifications and session
// snapshots as the server watch stores them (capture::build_server_record), read back
// with capture::EventReader like `export plays` does, and the client list and coverage
// over a store holding both.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "analytics/clients.hpp"
#include "analytics/coverage_meter.hpp"
#include "analytics/play_feed.hpp"
#include "analytics/plays.hpp"
#include "capture/event.hpp"
#include "store/writer.hpp"
#include "tests/bench/synthetic_events.hpp"
#include "tests/unit/both_sides_records.hpp"
#include "tests/unit/temp_dir.hpp"

namespace plextap::analytics {
namespace {

constexpr std::int64_t kT0 = 1'732'449'600'000;  // 2024-11-24T12:00:00.000Z
constexpr std::int64_t kSec = 1000;

using test_support::notification;
using test_support::Snap;
using test_support::snapshot;
using test_support::timeline;

// Feeds stored records to a builder the way `export plays` does.
struct Feed {
  std::vector<Play> rows;
  std::unordered_map<std::string, ItemFacts> markers;
  capture::EventReader reader;
  capture::EventFields fields;
  PlayBuilder builder;

  Feed()
      : builder(
            {},
            [this](std::string_view rk) -> const ItemFacts* {
              auto it = markers.find(std::string(rk));
              return it == markers.end() ? nullptr : &it->second;
            },
            [this](const Play& p) { rows.push_back(p); }) {}

  void add(const store::Record& r) {
    const auto kind = static_cast<Kind>(r.kind);
    ASSERT_TRUE(reader.read(r.json, kind, fields)) << r.json;
    builder.add(play_input(fields, kind, r.ts_ms));
  }
  const std::vector<Play>& finish() {
    builder.finish();
    return rows;
  }
};

std::string json_of(const Play& p) {
  std::string s;
  base::JsonWriter w(s);
  write_play(p, w);
  return s;
}

TEST(PlaysBothSides, ReaderReadsTheServerEventsFields) {
  capture::EventReader reader;
  capture::EventFields f;
  auto n = notification(kT0, "tv-1", "100", "paused", 26'530, "");
  ASSERT_TRUE(reader.read(n.json, Kind::notification, f));
  EXPECT_EQ(f.op, "playing");
  EXPECT_EQ(f.client_id, "tv-1");
  EXPECT_EQ(f.rating_key, "100");
  EXPECT_EQ(f.state, "paused");
  EXPECT_EQ(f.time_ms, 26'530);
  EXPECT_EQ(f.play_queue_item_id, "");
  auto s =
      snapshot(kT0, "tv-1", "100", "playing", 5000, 60'000, {9000, 3, "Bo", "10.0.0.9", "wan"});
  ASSERT_TRUE(reader.read(s.json, Kind::session, f));
  EXPECT_EQ(f.op, "snapshot");
  EXPECT_EQ(f.product, "Plex for LG");
  EXPECT_EQ(f.device_name, "Living Room");
  EXPECT_EQ(f.client_address, "10.0.0.9");
  EXPECT_EQ(f.account_id, 3);
  EXPECT_EQ(f.user_name, "Bo");
  EXPECT_EQ(f.duration_ms, 60'000);
  EXPECT_EQ(f.bandwidth_kbps, 9000);
  EXPECT_EQ(f.location, "wan");
  auto t = timeline(kT0, "web-1", "100", "playing", 1000, 60'000);
  ASSERT_TRUE(reader.read(t.json, Kind::timeline, f));
  EXPECT_EQ(f.product, "Plex Web");
  EXPECT_FALSE(f.account_id);
  EXPECT_EQ(f.user_name, "");
}

// The client reports through the proxy every 10 s; the server announces each report a
// moment later, rounding the position; a snapshot now and then. One play, positions from
// the timelines.
TEST(PlaysBothSides, BothSidesMakeOneRowWithTheTimelinesPositions) {
  Feed f;
  const std::int64_t dur = 600 * kSec;
  for (std::int64_t s = 0; s <= 300; s += 10) {
    // A forward seek at 200 s: the position jumps by two minutes.
    std::int64_t pos = s * kSec + (s >= 200 ? 120 * kSec : 0);
    f.add(timeline(kT0 + s * kSec, "web-1", "100", "playing", pos, dur));
    f.add(notification(kT0 + s * kSec + 40, "web-1", "100", "playing", pos / 1000 * 1000 + 700));
    if (s % 30 == 0) f.add(snapshot(kT0 + s * kSec + 80, "web-1", "100", "playing", pos, dur));
  }
  // The server's stop is committed before the client's own last report.
  f.add(notification(kT0 + 302 * kSec + 30, "web-1", "100", "stopped", 422 * kSec));
  f.add(timeline(kT0 + 302 * kSec, "web-1", "100", "stopped", 421 * kSec + 500, dur));
  // A late snapshot of the play just ended makes nothing.
  f.add(snapshot(kT0 + 303 * kSec, "web-1", "100", "playing", 421 * kSec, dur));
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 1u);
  const Play& p = rows[0];
  EXPECT_EQ(p.source, PlaySource::both);
  EXPECT_EQ(p.ended_by, PlayEnd::stopped);
  EXPECT_EQ(p.started_at_ms, kT0);
  EXPECT_EQ(p.max_position_ms, 421 * kSec + 500);  // the timeline's, not the notification's
  EXPECT_EQ(p.seeks_forward, 1u);
  EXPECT_EQ(p.seeks_back, 0u);
  EXPECT_EQ(p.duration_ms, dur);
  EXPECT_EQ(p.bandwidth_kbps, 4000);
  EXPECT_EQ(p.account_id, 1);
  EXPECT_EQ(p.user_name, "Ann");
  EXPECT_EQ(p.location, "lan");
  EXPECT_EQ(p.player_address, "10.0.0.5");
  EXPECT_EQ(p.play_queue_item_id, "7");
}

// A player that talks to the server directly: its play rebuilt from the notifications alone,
// with the same rules, skips from the markers.
TEST(PlaysBothSides, ServerOnlyPlayFromTheNotifications) {
  Feed f;
  ItemFacts m;
  m.markers = {{"intro", 30 * kSec, 90 * kSec}, {"credits", 1300 * kSec, 1400 * kSec}};
  m.duration_ms = 1400 * kSec;
  f.markers.emplace("202", m);
  std::int64_t ts = kT0;
  for (std::int64_t pos = 0; pos <= 30 * kSec; pos += 10 * kSec, ts += 10 * kSec)
    f.add(notification(ts, "tv-1", "202", "playing", pos, ""));
  // Skip intro: 30 s → 90 s at once.
  f.add(notification(ts, "tv-1", "202", "playing", 91 * kSec, ""));
  ts += 10 * kSec;
  f.add(notification(ts, "tv-1", "202", "paused", 101 * kSec, ""));
  ts += 60 * kSec;
  f.add(notification(ts, "tv-1", "202", "playing", 101 * kSec, ""));
  ts += 10 * kSec;
  f.add(notification(ts, "tv-1", "202", "stopped", 111 * kSec, ""));
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 1u);
  const Play& p = rows[0];
  EXPECT_EQ(p.source, PlaySource::server);
  EXPECT_EQ(p.client_id, "tv-1");
  EXPECT_EQ(p.ended_by, PlayEnd::stopped);
  EXPECT_EQ(p.intro_skipped, true);
  EXPECT_EQ(p.credits_skipped, false);
  EXPECT_EQ(p.pauses, 1u);
  EXPECT_EQ(p.watched_ms, 60 * kSec);  // 50 s up to the pause, 10 s after; the minute paused not
  EXPECT_EQ(p.max_position_ms, 111 * kSec);
  EXPECT_EQ(p.duration_ms, 1400 * kSec);  // enrichment's: notifications carry none
  EXPECT_FALSE(p.account_id);             // no snapshot: no account
  EXPECT_FALSE(p.bandwidth_kbps);
}

// The account is the one of that play's snapshots, not the client's latest; bandwidth is
// their median.
TEST(PlaysBothSides, SnapshotsGiveUserLocationBandwidthAndAddress) {
  Feed f;
  const std::int64_t dur = 120 * kSec;
  const std::int64_t bandwidths[] = {4000, 9000, 5000, 20000, 4500};
  std::int64_t ts = kT0;
  for (int i = 0; i < 5; ++i, ts += 10 * kSec) {
    f.add(notification(ts, "tv-1", "300", "playing", i * 10 * kSec));
    f.add(snapshot(ts + 5, "tv-1", "300", "playing", i * 10 * kSec, dur,
                   {bandwidths[i], 1, "Ann", "10.0.0.5", "lan"}));
  }
  f.add(notification(ts, "tv-1", "300", "stopped", 50 * kSec));
  // The same player, another account, next item.
  ts += 60 * kSec;
  for (int i = 0; i < 3; ++i, ts += 10 * kSec)
    f.add(snapshot(ts, "tv-1", "301", "playing", i * 10 * kSec, dur,
                   {2000, 2, "Bob", "203.0.113.9", "wan"}));
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].rating_key, "300");
  EXPECT_EQ(rows[0].account_id, 1);
  EXPECT_EQ(rows[0].user_name, "Ann");
  EXPECT_EQ(rows[0].location, "lan");
  EXPECT_EQ(rows[0].bandwidth_kbps, 5000);
  EXPECT_EQ(rows[0].player_address, "10.0.0.5");
  EXPECT_EQ(rows[0].duration_ms, dur);
  EXPECT_EQ(rows[0].max_position_ms, 50 * kSec);  // the notifications'
  EXPECT_EQ(rows[1].rating_key, "301");
  EXPECT_EQ(rows[1].source, PlaySource::server);  // from the snapshots alone
  EXPECT_EQ(rows[1].account_id, 2);
  EXPECT_EQ(rows[1].user_name, "Bob");
  EXPECT_EQ(rows[1].location, "wan");
  EXPECT_EQ(rows[1].player_address, "203.0.113.9");
  EXPECT_EQ(rows[1].max_position_ms, 20 * kSec);
  const std::string json = json_of(rows[1]);
  EXPECT_NE(json.find(R"("media":null,"source":"server","user":{"account_id":2,"name":"Bob"},)"
                      R"("location":"wan","bandwidth_kbps":2000,"player_address":"203.0.113.9",)"
                      R"("chosen_media_id":"1","video_resolution":"1080")"),
            std::string::npos)
      << json;
}

TEST(PlaysBothSides, AProxyOnlyPlayHasTheNewFieldsNull) {
  Feed f;
  for (std::int64_t s = 0; s <= 60; s += 10)
    f.add(timeline(kT0 + s * kSec, "web-1", "100", "playing", s * kSec, 600 * kSec));
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].source, PlaySource::proxy);
  EXPECT_EQ(rows[0].watched_ms, 60 * kSec);
  EXPECT_TRUE(json_of(rows[0]).ends_with(
      R"("media":null,"source":"proxy","user":null,"location":null,"bandwidth_kbps":null,)"
      R"("player_address":null,"chosen_media_id":null,"video_resolution":null,"hdr":null,)"
      R"("dovi_profile":null,"run_id":null,"run_index":0})"));
}

// The client moves on to the next episode through the proxy; the server's report of the
// previous one comes a moment later and neither ends the new play nor makes a row.
TEST(PlaysBothSides, ALateServerReportOfThePreviousItemMakesNoRow) {
  Feed f;
  std::int64_t ts = kT0;
  for (int i = 0; i < 4; ++i, ts += 10 * kSec) {
    f.add(timeline(ts, "web-1", "100", "playing", i * 10 * kSec, 600 * kSec, "7"));
    f.add(notification(ts + 30, "web-1", "100", "playing", i * 10 * kSec, "7"));
  }
  f.add(timeline(ts, "web-1", "101", "playing", 0, 600 * kSec, "8"));
  f.add(notification(ts + 20, "web-1", "100", "playing", 40 * kSec, "7"));
  f.add(notification(ts + 40, "web-1", "101", "playing", 0, "8"));
  f.add(timeline(ts + 10 * kSec, "web-1", "101", "playing", 10 * kSec, 600 * kSec, "8"));
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].rating_key, "100");
  EXPECT_EQ(rows[0].ended_by, PlayEnd::next_item);
  EXPECT_EQ(rows[0].source, PlaySource::both);
  EXPECT_EQ(rows[1].rating_key, "101");
  EXPECT_EQ(rows[1].source, PlaySource::both);
  EXPECT_EQ(rows[1].watched_ms, 10 * kSec);
}

// A stop the server announced, then the same item again through the proxy a minute later:
// two plays.
TEST(PlaysBothSides, AServerStopThenTheSameItemAgainIsANewPlay) {
  Feed f;
  f.add(timeline(kT0, "web-1", "100", "playing", 0, 600 * kSec));
  f.add(timeline(kT0 + 10 * kSec, "web-1", "100", "playing", 10 * kSec, 600 * kSec));
  f.add(notification(kT0 + 11 * kSec, "web-1", "100", "stopped", 11 * kSec));
  f.add(timeline(kT0 + 70 * kSec, "web-1", "100", "playing", 0, 600 * kSec));
  f.add(timeline(kT0 + 80 * kSec, "web-1", "100", "playing", 10 * kSec, 600 * kSec));
  const auto& rows = f.finish();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].ended_by, PlayEnd::stopped);
  EXPECT_EQ(rows[0].ended_at_ms, kT0 + 11 * kSec);
  EXPECT_EQ(rows[0].source, PlaySource::both);
  EXPECT_EQ(rows[1].started_at_ms, kT0 + 70 * kSec);
  EXPECT_EQ(rows[1].source, PlaySource::proxy);
}

// A play of a day with a snapshot every second: the median comes from a bounded, evenly
// spread sample.
TEST(PlaysBothSides, BandwidthMedianOfALongPlayIsBounded) {
  std::vector<Play> rows;
  PlayBuilder b({}, nullptr, [&](const Play& p) { rows.push_back(p); });
  for (std::int64_t i = 0; i < 86'400; ++i) {
    PlayInput e;
    e.ts_ms = kT0 + i * kSec;
    e.kind = Kind::session;
    e.client_id = "tv-1";
    e.rating_key = "100";
    e.state = TimelineState::playing;
    e.time_ms = i * kSec;
    e.bandwidth_kbps = 1000 + (i * 7919) % 10'000;  // spread evenly over 1000..10999
    b.add(e);
  }
  b.finish();
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_TRUE(rows[0].bandwidth_kbps);
  EXPECT_GE(*rows[0].bandwidth_kbps, 5700);
  EXPECT_LE(*rows[0].bandwidth_kbps, 6300);
}

// Both sides of many short plays: what the builder holds stays bounded, one row per play.
TEST(PlaysBothSides, MemoryStaysBoundedWithBothSides) {
  std::uint64_t rows = 0, both = 0;
  PlayBuilder builder({}, nullptr, [&](const Play& p) {
    ++rows;
    both += p.source == PlaySource::both;
  });
  std::size_t max_open = 0, max_pending = 0, max_clients = 0;
  std::string client, rk;
  std::int64_t ts = kT0;
  constexpr int kPlays = 20'000, kUpdates = 6;
  for (int n = 0; n < kPlays; ++n) {
    // Built piecewise: GCC 12 warns (falsely, -Wrestrict) on "c" + std::string here.
    client.assign(1, 'c');
    client += std::to_string(n % 3000);
    rk = std::to_string(1000 + n);
    for (int u = 0; u < kUpdates; ++u, ts += 100) {
      PlayInput e;
      e.ts_ms = ts;
      e.client_id = client;
      e.rating_key = rk;
      e.state = u == kUpdates - 1 ? TimelineState::stopped : TimelineState::playing;
      e.time_ms = u * 5000;
      e.kind = Kind::timeline;
      builder.add(e);
      e.kind = Kind::notification;
      e.ts_ms = ts + 10;
      builder.add(e);
      e.kind = Kind::session;
      e.bandwidth_kbps = 1000 + u;
      builder.add(e);
    }
    max_open = std::max(max_open, builder.open_sessions());
    max_pending = std::max(max_pending, builder.pending_plays());
    max_clients = std::max(max_clients, builder.tracked_clients());
  }
  builder.finish();
  EXPECT_EQ(rows, static_cast<std::uint64_t>(kPlays));
  EXPECT_EQ(both, rows);
  EXPECT_LT(max_open, 10u);
  EXPECT_LT(max_pending, 1000u);
  EXPECT_LT(max_clients, 3001u);
}

// A store with a player through the proxy (both sides see it) and one that bypasses it.
TEST(Clients, ListAndCoverageOverBothSides) {
  test_support::TempDir dir;
  {
    store::Store store(dir.path(), false);
    store::Writer writer(store, {});
    auto put = [&](store::Record r) {
      ASSERT_TRUE(writer.submit(std::make_unique<bench::Ready>(r)));
    };
    for (std::int64_t s = 0; s <= 30; s += 10) {
      put(timeline(kT0 + s * kSec, "web-1", "100", "playing", s * kSec, 600 * kSec));
      put(notification(kT0 + s * kSec + 5, "web-1", "100", "playing", s * kSec));
    }
    put(snapshot(kT0 + 31 * kSec, "web-1", "100", "playing", 31 * kSec, 600 * kSec,
                 {4000, 1, "Ann", "10.0.0.2", "lan"}));
    for (std::int64_t s = 0; s <= 30; s += 10)
      put(notification(kT0 + 100 * kSec + s * kSec, "tv-1", "200", "playing", s * kSec, ""));
    put(snapshot(kT0 + 140 * kSec, "tv-1", "200", "playing", 40 * kSec, 600 * kSec,
                 {4000, 2, "Bob", "10.0.0.5", "lan"}));
    writer.flush();
  }
  store::Store store(dir.path(), true);
  auto clients = collect_clients(store, {}, {});
  ASSERT_EQ(clients.size(), 2u);
  const ClientRow& web = clients[0];
  EXPECT_EQ(web.client_id, "web-1");
  EXPECT_TRUE(web.via_proxy);
  EXPECT_TRUE(web.on_server);
  EXPECT_EQ(web.plays, 1u);
  EXPECT_EQ(web.plays_via_proxy, 1u);
  const ClientRow& tv = clients[1];
  EXPECT_EQ(tv.client_id, "tv-1");
  EXPECT_FALSE(tv.via_proxy);
  EXPECT_TRUE(tv.on_server);
  EXPECT_EQ(tv.plays, 1u);
  EXPECT_EQ(tv.plays_via_proxy, 0u);
  std::string json;
  base::JsonWriter w(json);
  write_client(tv, w);
  EXPECT_EQ(json,
            R"({"client_id":"tv-1","product":"Plex for LG","platform":null,)"
            R"("device_name":"Living Room","user":{"account_id":2,"name":"Bob"},)"
            R"("first_seen":"2024-11-24T12:01:40.000Z","last_seen":"2024-11-24T12:02:20.000Z",)"
            R"("via_proxy":false,"on_server":true,"plays":1,"plays_via_proxy":0})");

  Coverage c = coverage(clients);
  EXPECT_EQ(c.server_clients, 2u);
  EXPECT_EQ(c.server_clients_via_proxy, 1u);
  EXPECT_EQ(c.server_plays, 2u);
  EXPECT_EQ(c.server_plays_via_proxy, 1u);
  ASSERT_EQ(c.bypassing.size(), 1u);
  EXPECT_EQ(c.bypassing[0].client_id, "tv-1");

  // --since/--until bound what is counted.
  auto later = collect_clients(store, kT0 + 100 * kSec, {});
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].client_id, "tv-1");
}

// The /metrics coverage of `serve`: a meter fed only what was committed since its last round
// counts what `stats` counts over the whole store, a play still open included.
bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(Clients, CoverageMeterCountsIncrementallyAsStatsDoes) {
  test_support::TempDir dir;
  store::Store store(dir.path(), false);
  store::Writer writer(store, {});
  auto put = [&](store::Record r) {
    ASSERT_TRUE(writer.submit(std::make_unique<bench::Ready>(r)));
  };
  CoverageMeter meter(store);
  auto counts = [&] {
    meter.update();
    return meter.metrics_text();
  };
  EXPECT_TRUE(contains(counts(), "plextap_coverage_server_clients{via_proxy=\"true\"} 0"));

  for (std::int64_t s = 0; s <= 30; s += 10) {
    put(timeline(kT0 + s * kSec, "web-1", "100", "playing", s * kSec, 600 * kSec));
    put(notification(kT0 + s * kSec + 5, "web-1", "100", "playing", s * kSec));
  }
  writer.flush();
  std::string m = counts();
  EXPECT_TRUE(contains(m, "plextap_coverage_server_clients{via_proxy=\"true\"} 1")) << m;
  EXPECT_TRUE(contains(m, "plextap_coverage_server_clients{via_proxy=\"false\"} 0")) << m;
  EXPECT_TRUE(contains(m, "plextap_coverage_server_plays{via_proxy=\"true\"} 1")) << m;
  EXPECT_FALSE(contains(m, "plextap_coverage_updated_timestamp_seconds 0\n")) << m;

  for (std::int64_t s = 0; s <= 30; s += 10)
    put(notification(kT0 + 100 * kSec + s * kSec, "tv-1", "200", "playing", s * kSec, ""));
  put(timeline(kT0 + 200 * kSec, "web-1", "300", "playing", 0, 600 * kSec));
  writer.flush();
  m = counts();
  EXPECT_TRUE(contains(m, "plextap_coverage_server_clients{via_proxy=\"true\"} 1")) << m;
  EXPECT_TRUE(contains(m, "plextap_coverage_server_clients{via_proxy=\"false\"} 1")) << m;
  EXPECT_TRUE(contains(m, "plextap_coverage_server_plays{via_proxy=\"true\"} 1")) << m;
  EXPECT_TRUE(contains(m, "plextap_coverage_server_plays{via_proxy=\"false\"} 1")) << m;

  Coverage whole = coverage(collect_clients(store, {}, {}));
  EXPECT_EQ(whole.server_clients, 2u);
  EXPECT_EQ(whole.server_plays, 2u);
  EXPECT_EQ(whole.server_plays_via_proxy, 1u);
}

}  // namespace
}  // namespace plextap::analytics
