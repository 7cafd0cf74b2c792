// Play queue outcomes (DESIGN.md section 11): one row per play queue a client created or
// used, its calls counted by op, and what of it was played: plays whose queue it was
// (Play::play_queue_id, as PlayBuilder found it).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "analytics/plays.hpp"
#include "capture/event.hpp"

namespace plextap::analytics {

// The ops of DESIGN.md section 5, in the order the row's `ops` object lists them.
inline constexpr std::array<std::string_view, 10> kQueueOps{
    "create", "get", "add", "shuffle", "unshuffle", "reset", "move", "remove", "clear", "delete"};

struct QueueOutcome {
  std::string play_queue_id, client_id;
  std::optional<std::int64_t> account_id;  // of its first play
  std::string user_name;
  std::int64_t created_at_ms = 0;  // its create call, else the first call seen
  std::string source_uri, type;
  std::uint64_t items = 0;
  bool shuffled = false;
  std::array<std::uint32_t, kQueueOps.size()> ops{};
  std::uint32_t items_played = 0;  // distinct items
  std::optional<std::int64_t> first_play_at_ms;
  bool abandoned() const;  // nothing of it played within 30 minutes of its creation
};

// play_queue_id, client_id, user, created_at, source_uri, type, items, shuffled, ops{…},
// items_played, first_play_at, abandoned.
void write_queue_outcome(const QueueOutcome& q, base::JsonWriter& out);

class QueueTracker {
 public:
  static constexpr std::int64_t kAbandonedAfterMs = 30 * 60'000;

  // A playqueue call, as its event's fields.
  void on_call(std::int64_t ts_ms, const capture::EventFields& call);
  void on_play(const Play& play);

  // Every queue seen, first created first.
  std::vector<const QueueOutcome*> rows() const;

 private:
  struct Entry {
    QueueOutcome row;
    std::vector<std::string> played;  // distinct rating keys
  };
  std::unordered_map<std::string, Entry> queues_;  // by client and queue id
};

}  // namespace plextap::analytics
