#include "analytics/queues.hpp"

#include <algorithm>
#include <tuple>

#include "analytics/row_fields.hpp"

namespace plextap::analytics {
namespace {

// Queue ids are the server's, unique on one server; keyed with the client all the same, so
// that a client naming another's queue id cannot take its plays.
std::string key_of(std::string_view client_id, std::string_view queue_id) {
  std::string key(client_id);
  key += '\0';
  key += queue_id;
  return key;
}

}  // namespace

bool QueueOutcome::abandoned() const {
  return !first_play_at_ms || *first_play_at_ms - created_at_ms > QueueTracker::kAbandonedAfterMs;
}

void write_queue_outcome(const QueueOutcome& q, base::JsonWriter& out) {
  out.begin_object();
  put_string_or_null(out, "play_queue_id", q.play_queue_id);
  put_string_or_null(out, "client_id", q.client_id);
  put_user(out, q.account_id, q.user_name);
  put_time(out, "created_at", q.created_at_ms);
  put_string_or_null(out, "source_uri", q.source_uri);
  put_string_or_null(out, "type", q.type);
  out.key("items");
  out.uint64(q.items);
  out.key("shuffled");
  out.boolean(q.shuffled);
  out.key("ops");
  out.begin_object();
  for (std::size_t i = 0; i < kQueueOps.size(); ++i) {
    out.key(kQueueOps[i]);
    out.uint64(q.ops[i]);
  }
  out.end_object();
  out.key("items_played");
  out.uint64(q.items_played);
  out.key("first_play_at");
  if (q.first_play_at_ms)
    out.string(base::rfc3339_ms(*q.first_play_at_ms));
  else
    out.null();
  out.key("abandoned");
  out.boolean(q.abandoned());
  out.end_object();
}

void QueueTracker::on_call(std::int64_t ts_ms, const capture::EventFields& call) {
  if (call.play_queue_id.empty()) return;
  auto [it, added] = queues_.try_emplace(key_of(call.client_id, call.play_queue_id));
  QueueOutcome& q = it->second.row;
  if (added) {
    q.play_queue_id = call.play_queue_id;
    q.client_id = call.client_id;
    q.created_at_ms = ts_ms;
  }
  auto op = std::find(kQueueOps.begin(), kQueueOps.end(), call.op);
  if (op != kQueueOps.end()) ++q.ops[static_cast<std::size_t>(op - kQueueOps.begin())];
  if (call.op == "create") {
    q.created_at_ms = std::min(q.created_at_ms, ts_ms);
    if (!call.source_uri.empty()) q.source_uri = call.source_uri;
    if (!call.queue_type.empty()) q.type = call.queue_type;
  }
  if (call.op == "shuffle") q.shuffled = true;
  if (call.op == "unshuffle") q.shuffled = false;
  if (call.shuffled) q.shuffled = *call.shuffled;
  if (call.total_count && *call.total_count >= 0)
    q.items = static_cast<std::uint64_t>(*call.total_count);
  else if (!call.item_keys.empty())
    q.items = call.item_keys.size();
}

void QueueTracker::on_play(const Play& p) {
  if (p.play_queue_id.empty()) return;
  auto it = queues_.find(key_of(p.client_id, p.play_queue_id));
  if (it == queues_.end()) return;
  Entry& e = it->second;
  QueueOutcome& q = e.row;
  if (!q.first_play_at_ms || p.started_at_ms < *q.first_play_at_ms) {
    q.first_play_at_ms = p.started_at_ms;
    if (p.account_id || !p.user_name.empty()) {
      q.account_id = p.account_id;
      q.user_name = p.user_name;
    }
  }
  if (std::find(e.played.begin(), e.played.end(), p.rating_key) == e.played.end()) {
    e.played.push_back(p.rating_key);
    ++q.items_played;
  }
}

std::vector<const QueueOutcome*> QueueTracker::rows() const {
  std::vector<const QueueOutcome*> rows;
  rows.reserve(queues_.size());
  for (const auto& [key, e] : queues_) rows.push_back(&e.row);
  std::sort(rows.begin(), rows.end(), [](const QueueOutcome* a, const QueueOutcome* b) {
    return std::tie(a->created_at_ms, a->play_queue_id) <
           std::tie(b->created_at_ms, b->play_queue_id);
  });
  return rows;
}

}  // namespace plextap::analytics
