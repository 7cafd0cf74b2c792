// Binge runs (DESIGN.md section 11): consecutive plays on one client with at most 15
// minutes between one play's end and the next one's start. Plays come in as they end (per
// client in time order); each gets its run's id and its index in it, and a run's row comes
// out once the client's next play is too late for it, or at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "analytics/plays.hpp"

namespace plextap::analytics {

struct Run {
  std::string run_id, client_id;
  std::optional<std::int64_t> account_id;  // the latest play's that names one
  std::string user_name;
  std::int64_t started_at_ms = 0, ended_at_ms = 0;
  std::uint32_t plays = 0;
  std::int64_t watched_ms = 0;
  std::uint32_t shows = 0;  // distinct shows (a movie is its own)
  std::uint32_t longest_same_show_streak = 0;
  bool binge = false;  // three or more episodes of one show in a row
  std::uint32_t intro_skips = 0, credits_skips = 0;
};

// run_id, client_id, user, started_at, ended_at, plays, watched_ms, shows,
// longest_same_show_streak, binge, intro_skips, credits_skips.
void write_run(const Run& run, base::JsonWriter& out);

class RunTracker {
 public:
  static constexpr std::int64_t kGapMs = 15 * 60'000;
  explicit RunTracker(std::function<void(const Run&)> emit) : emit_(std::move(emit)) {}

  // Sets the play's run_id and run_index.
  void on_play(Play& play);
  // Emits every open run.
  void finish();
  // The runs still open (their client may play on).
  void for_each_open(const std::function<void(const Run&)>& f) const;

 private:
  struct Open {
    Run run;
    std::vector<std::string> shows;
    std::string last_show;
    std::uint32_t streak = 0, episode_streak = 0;
  };
  std::function<void(const Run&)> emit_;
  std::unordered_map<std::string, Open> open_;
};

}  // namespace plextap::analytics
