#include "analytics/runs.hpp"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "analytics/row_fields.hpp"

namespace plextap::analytics {
namespace {

// A run's id: the same for the same client and first play on every export of the store.
std::string run_id_of(std::string_view client_id, std::int64_t started_at_ms) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bits
  auto mix = [&](unsigned char c) {
    h ^= c;
    h *= 1099511628211ull;
  };
  for (char c : client_id) mix(static_cast<unsigned char>(c));
  mix(0);
  for (int i = 0; i < 8; ++i) mix(static_cast<unsigned char>(started_at_ms >> (8 * i)));
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

}  // namespace

void write_run(const Run& r, base::JsonWriter& out) {
  out.begin_object();
  put_string_or_null(out, "run_id", r.run_id);
  put_string_or_null(out, "client_id", r.client_id);
  put_user(out, r.account_id, r.user_name);
  put_time(out, "started_at", r.started_at_ms);
  put_time(out, "ended_at", r.ended_at_ms);
  out.key("plays");
  out.uint64(r.plays);
  out.key("watched_ms");
  out.int64(r.watched_ms);
  out.key("shows");
  out.uint64(r.shows);
  out.key("longest_same_show_streak");
  out.uint64(r.longest_same_show_streak);
  out.key("binge");
  out.boolean(r.binge);
  out.key("intro_skips");
  out.uint64(r.intro_skips);
  out.key("credits_skips");
  out.uint64(r.credits_skips);
  out.end_object();
}

void RunTracker::on_play(Play& p) {
  auto it = open_.find(p.client_id);
  // Rule: the next play continues the run when it starts at most 15 minutes after the
  // previous one ended (a play that started earlier, on the same client, continues it too).
  if (it != open_.end() && p.started_at_ms - it->second.run.ended_at_ms > kGapMs) {
    emit_(it->second.run);
    open_.erase(it);
    it = open_.end();
  }
  if (it == open_.end()) {
    it = open_.try_emplace(p.client_id).first;
    Run& r = it->second.run;
    r.client_id = p.client_id;
    r.run_id = run_id_of(p.client_id, p.started_at_ms);
    r.started_at_ms = p.started_at_ms;
  }
  Open& o = it->second;
  Run& r = o.run;
  p.run_id = r.run_id;
  p.run_index = r.plays;
  ++r.plays;
  r.ended_at_ms = std::max(r.ended_at_ms, p.ended_at_ms);
  r.watched_ms += p.watched_ms;
  if (p.account_id || !p.user_name.empty()) {
    r.account_id = p.account_id;
    r.user_name = p.user_name;
  }
  if (p.intro_skipped.value_or(false)) ++r.intro_skips;
  if (p.credits_skipped.value_or(false)) ++r.credits_skips;
  // An item enrichment has not seen is its own show.
  const std::string& show = p.show_key.empty() ? p.rating_key : p.show_key;
  if (std::find(o.shows.begin(), o.shows.end(), show) == o.shows.end()) o.shows.push_back(show);
  r.shows = static_cast<std::uint32_t>(o.shows.size());
  const bool same = !o.last_show.empty() && show == o.last_show;
  o.streak = same ? o.streak + 1 : 1;
  const bool episode = p.item_type == "episode";
  o.episode_streak = episode ? (same ? o.episode_streak + 1 : 1) : 0;
  o.last_show = show;
  r.longest_same_show_streak = std::max(r.longest_same_show_streak, o.streak);
  if (o.episode_streak >= 3) r.binge = true;
}

void RunTracker::finish() {
  std::vector<const Run*> runs;
  runs.reserve(open_.size());
  for (const auto& [client, o] : open_) runs.push_back(&o.run);
  std::sort(runs.begin(), runs.end(), [](const Run* a, const Run* b) {
    return std::tie(a->ended_at_ms, a->run_id) < std::tie(b->ended_at_ms, b->run_id);
  });
  for (const Run* r : runs) emit_(*r);
  open_.clear();
}

void RunTracker::for_each_open(const std::function<void(const Run&)>& f) const {
  for (const auto& [client, o] : open_) f(o.run);
}

}  // namespace plextap::analytics
