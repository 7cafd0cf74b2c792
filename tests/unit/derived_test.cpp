// Runs and play queue outcomes (analytics/runs.hpp, analytics/queues.hpp): the rules of
// DESIGN.md section 11 on plays as PlayBuilder emits them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "analytics/queues.hpp"
#include "analytics/runs.hpp"

namespace plextap::analytics {
namespace {

constexpr std::int64_t kT0 = 1'732'449'600'000;  // 2024-11-24T12:00:00.000Z
constexpr std::int64_t kMin = 60'000;

Play play(std::string client, std::string rk, std::int64_t start, std::int64_t minutes,
          std::string show = {}, std::string type = "episode") {
  Play p;
  p.client_id = std::move(client);
  p.rating_key = std::move(rk);
  p.started_at_ms = start;
  p.ended_at_ms = start + minutes * kMin;
  p.watched_ms = minutes * kMin;
  p.show_key = std::move(show);
  p.item_type = std::move(type);
  return p;
}

TEST(Runs, ConsecutivePlaysWithinFifteenMinutesAreOneRun) {
  std::vector<analytics::Run> runs;
  RunTracker tracker([&](const analytics::Run& r) { runs.push_back(r); });
  std::vector<Play> plays{
      play("tv", "1", kT0, 30, "show-a"),
      play("tv", "2", kT0 + 31 * kMin, 30, "show-a"),
      play("web", "9", kT0 + 40 * kMin, 90, "", "movie"),
      play("tv", "3", kT0 + 75 * kMin, 30, "show-a"),  // 14 minutes after the previous end
      play("tv", "4", kT0 + 106 * kMin, 30, "show-b"),
      play("tv", "5", kT0 + 152 * kMin, 30, "show-b"),  // 16 minutes: a new run
  };
  plays[1].intro_skipped = true;
  plays[3].intro_skipped = true;
  plays[3].credits_skipped = true;
  plays[0].user_name = "Ann";
  for (Play& p : plays) tracker.on_play(p);
  ASSERT_EQ(runs.size(), 1u);  // the first run of tv ended when its next play came too late
  tracker.finish();
  ASSERT_EQ(runs.size(), 3u);

  const analytics::Run& binge = runs[0];
  EXPECT_EQ(binge.client_id, "tv");
  EXPECT_EQ(binge.plays, 4u);
  EXPECT_EQ(binge.started_at_ms, kT0);
  EXPECT_EQ(binge.ended_at_ms, kT0 + 136 * kMin);
  EXPECT_EQ(binge.watched_ms, 120 * kMin);
  EXPECT_EQ(binge.shows, 2u);
  EXPECT_EQ(binge.longest_same_show_streak, 3u);
  EXPECT_TRUE(binge.binge);
  EXPECT_EQ(binge.intro_skips, 2u);
  EXPECT_EQ(binge.credits_skips, 1u);
  EXPECT_EQ(binge.user_name, "Ann");
  for (int i = 0; i < 4; ++i) {
    const std::size_t k = i < 2 ? static_cast<std::size_t>(i) : static_cast<std::size_t>(i + 1);
    EXPECT_EQ(plays[k].run_id, binge.run_id) << k;
  }
  EXPECT_EQ(plays[0].run_index, 0u);
  EXPECT_EQ(plays[4].run_index, 3u);
  EXPECT_NE(plays[5].run_id, binge.run_id);
  EXPECT_EQ(plays[5].run_index, 0u);
  EXPECT_EQ(plays[5].run_id.size(), 16u);

  // Two episodes of a show and a movie: no binge.
  for (const analytics::Run& r : runs)
    if (r.run_id != binge.run_id) {
      EXPECT_FALSE(r.binge) << r.client_id;
    }

  // The id is the same on every pass over the same plays.
  std::vector<analytics::Run> again;
  RunTracker second([&](const analytics::Run& r) { again.push_back(r); });
  Play first = play("tv", "1", kT0, 30, "show-a");
  second.on_play(first);
  EXPECT_EQ(first.run_id, binge.run_id);
}

capture::EventFields call(std::string_view op, std::string_view id,
                          std::optional<std::int64_t> total = std::nullopt) {
  capture::EventFields f;
  f.client_id = "tv";
  f.op = op;
  f.play_queue_id = id;
  f.total_count = total;
  if (op == "create") {
    f.source_uri = "server://abc/com.plexapp.plugins.library/library/metadata/200";
    f.queue_type = "video";
  }
  return f;
}

TEST(QueueOutcomes, CountsOpsPlaysAndAbandonment) {
  QueueTracker q;
  q.on_call(kT0, call("create", "q1", 10));
  q.on_call(kT0 + kMin, call("shuffle", "q1", 10));
  q.on_call(kT0 + 2 * kMin, call("get", "q1"));
  q.on_call(kT0 + 3 * kMin, call("create", "q2", 1));  // never played
  q.on_call(kT0 + 4 * kMin, call("create", "q3", 5));  // played too late
  Play a = play("tv", "201", kT0 + 5 * kMin, 20);
  a.play_queue_id = "q1";
  a.user_name = "Ann";
  Play b = play("tv", "202", kT0 + 26 * kMin, 20);
  b.play_queue_id = "q1";
  Play again = play("tv", "201", kT0 + 50 * kMin, 20);
  again.play_queue_id = "q1";
  Play late = play("tv", "301", kT0 + 40 * kMin, 20);
  late.play_queue_id = "q3";
  Play stranger = play("web", "202", kT0 + 6 * kMin, 20);
  stranger.play_queue_id = "q2";  // another client's id: not its queue
  for (const Play* p : {&a, &stranger, &b, &late, &again}) q.on_play(*p);

  auto rows = q.rows();
  ASSERT_EQ(rows.size(), 3u);
  const QueueOutcome& q1 = *rows[0];
  EXPECT_EQ(q1.play_queue_id, "q1");
  EXPECT_EQ(q1.created_at_ms, kT0);
  EXPECT_EQ(q1.type, "video");
  EXPECT_EQ(q1.items, 10u);
  EXPECT_TRUE(q1.shuffled);
  EXPECT_EQ(q1.ops[0], 1u);  // create
  EXPECT_EQ(q1.ops[1], 1u);  // get
  EXPECT_EQ(q1.ops[3], 1u);  // shuffle
  EXPECT_EQ(q1.items_played, 2u);
  EXPECT_EQ(q1.first_play_at_ms, kT0 + 5 * kMin);
  EXPECT_EQ(q1.user_name, "Ann");
  EXPECT_FALSE(q1.abandoned());
  EXPECT_EQ(rows[1]->play_queue_id, "q2");
  EXPECT_EQ(rows[1]->items_played, 0u);
  EXPECT_TRUE(rows[1]->abandoned());
  EXPECT_EQ(rows[2]->play_queue_id, "q3");
  EXPECT_TRUE(rows[2]->abandoned());  // first played 36 minutes after its creation

  std::string json;
  base::JsonWriter w(json);
  write_queue_outcome(q1, w);
  EXPECT_EQ(json,
            R"({"play_queue_id":"q1","client_id":"tv","user":{"account_id":null,"name":"Ann"},)"
            R"("created_at":"2024-11-24T12:00:00.000Z",)"
            R"("source_uri":"server://abc/com.plexapp.plugins.library/library/metadata/200",)"
            R"("type":"video","items":10,"shuffled":true,"ops":{"create":1,"get":1,"add":0,)"
            R"("shuffle":1,"unshuffle":0,"reset":0,"move":0,"remove":0,"clear":0,"delete":0},)"
            R"("items_played":2,"first_play_at":"2024-11-24T12:05:00.000Z","abandoned":false})");
}

}  // namespace
}  // namespace plextap::analytics
