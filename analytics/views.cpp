// Insights: the rows of a Derivation held in memory, and the views of DESIGN.md section 11
// computed from them (over 400 lines on purpose: each view is a short aggregation, and they
// read best side by side with the table shape they share).
//
// Threads: update() reads the store and feeds the Derivation on its caller's thread, with
// no lock held; only then, under the lock, are the new rows appended and the derived state
// the views need (queues, search outcomes, clients, open plays) copied. The views take the
// lock and aggregate what is held, never the store, so they answer in milliseconds.
#include "analytics/views.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "analytics/clients.hpp"
#include "analytics/derived.hpp"
#include "analytics/media_join.hpp"
#include "analytics/play_feed.hpp"
#include "analytics/row_fields.hpp"
#include "base/json_writer.hpp"
#include "base/time.hpp"

namespace plextap::analytics {
namespace {

using base::JsonWriter;

constexpr std::size_t kTopRows = 50;
// A live store: events may still be committed this long after the moment they name.
constexpr std::int64_t kSettleMs = 60'000;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A search, with the account its token was learnt to be when it was read.
struct SearchView {
  SearchRow row;
  std::optional<std::int64_t> account_id;
  std::string user_name;
};

// A play in progress, copied for "now playing".
struct NowPlaying {
  std::string client_id, rating_key, title, show_title, user_name, state;
  std::optional<std::int64_t> account_id, position_ms, duration_ms;
  std::int64_t started_at_ms = 0;
  PlaySource source = PlaySource::proxy;
};

std::string_view state_name(TimelineState s) {
  switch (s) {
    case TimelineState::playing:
      return "playing";
    case TimelineState::paused:
      return "paused";
    case TimelineState::buffering:
      return "buffering";
    case TimelineState::stopped:
      return "stopped";
    case TimelineState::other:
      break;
  }
  return "unknown";
}

// ---- the table shape of views.hpp --------------------------------------------------------

using Cell = std::variant<std::monostate, std::string, std::int64_t, double, bool>;

struct Column {
  std::string_view name, label, type;
};

struct Chart {
  std::string_view label;
  std::vector<std::string_view> values;
};

struct View {
  std::string_view name, title;
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;
  std::optional<Chart> chart;
  std::string note;
};

void write_cell(JsonWriter& w, const Cell& c) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>)
          w.null();
        else if constexpr (std::is_same_v<T, std::string>)
          w.string(v);
        else if constexpr (std::is_same_v<T, std::int64_t>)
          w.int64(v);
        else if constexpr (std::is_same_v<T, double>)
          w.number(v);
        else
          w.boolean(v);
      },
      c);
}

void write_view(JsonWriter& w, const View& v) {
  w.begin_object();
  w.key("name");
  w.string(v.name);
  w.key("title");
  w.string(v.title);
  w.key("columns");
  w.begin_array();
  for (const Column& c : v.columns) {
    w.begin_object();
    w.key("name");
    w.string(c.name);
    w.key("label");
    w.string(c.label);
    w.key("type");
    w.string(c.type);
    w.end_object();
  }
  w.end_array();
  w.key("rows");
  w.begin_array();
  for (const auto& row : v.rows) {
    w.begin_array();
    for (const Cell& c : row) write_cell(w, c);
    w.end_array();
  }
  w.end_array();
  w.key("chart");
  if (v.chart) {
    w.begin_object();
    w.key("kind");
    w.string("bar");
    w.key("label");
    w.string(v.chart->label);
    w.key("values");
    w.begin_array();
    for (auto value : v.chart->values) w.string(value);
    w.end_array();
    w.end_object();
  } else {
    w.null();
  }
  put_string_or_null(w, "note", v.note);
  w.end_object();
}

Cell text(std::string_view s) {
  return s.empty() ? Cell{} : Cell{std::string(s)};
}
Cell count(std::uint64_t n) {
  return static_cast<std::int64_t>(n);
}
Cell ratio(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return {};
  return std::round(static_cast<double>(part) / static_cast<double>(whole) * 10000.0) / 10000.0;
}
Cell time_cell(std::int64_t ms) {
  return base::rfc3339_ms(ms);
}
std::string user_label(const std::optional<std::int64_t>& id, std::string_view name) {
  if (!name.empty()) return std::string(name);
  if (id) return "account " + std::to_string(*id);
  return {};
}

// Sorts the rows by the int column `by`, largest first (ties keep their order), and keeps
// the first `limit`.
void top(View& v, std::size_t by, std::size_t limit = kTopRows) {
  std::stable_sort(v.rows.begin(), v.rows.end(), [by](const auto& a, const auto& b) {
    auto value = [by](const std::vector<Cell>& r) {
      const auto* n = std::get_if<std::int64_t>(&r[by]);
      return n ? *n : std::int64_t{0};
    };
    return value(a) > value(b);
  });
  if (v.rows.size() > limit) {
    v.note = "the first " + std::to_string(limit) + " of " + std::to_string(v.rows.size());
    v.rows.resize(limit);
  }
}

std::int64_t median(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  std::size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// "direct play", "direct stream", "transcode", or "not recorded" (no decision was seen).
std::string_view decision_kind(const Play& p) {
  if (!p.decision) return "not recorded";
  const PlayDecision& d = *p.decision;
  if (d.video == "transcode" || d.audio == "transcode") return "transcode";
  if (d.direct_play.value_or(false) && d.video != "copy" && d.audio != "copy")
    return "direct play";
  if (d.direct_stream.value_or(false) || d.video == "copy" || d.audio == "copy")
    return "direct stream";
  if (d.video == "directplay" || d.audio == "directplay") return "direct play";
  return "unknown";
}

}  // namespace

struct Insights::Impl {
  explicit Impl(store::Store& s)
      : store(s),
        join(s),
        items(join),
        derivation(std::ref(items), Derivation::Emit{
                                        [this](const Play& p) {
                                          tally.on_play(p);
                                          new_plays.push_back(p);
                                        },
                                        [this](const Run& r) { new_runs.push_back(r); },
                                        [this](const SearchRow& r) { new_searches.push_back(r); },
                                    }) {}

  void read_new();
  void publish(bool final);

  // What a filter keeps.
  bool keeps(const ViewFilter& f, std::int64_t ts, const std::optional<std::int64_t>& account,
             std::string_view name) const {
    if (f.since_ms && ts < *f.since_ms) return false;
    if (f.until_ms && ts >= *f.until_ms) return false;
    if (f.user.empty()) return true;
    return f.user == name || (account && f.user == std::to_string(*account));
  }

  std::vector<View> views(const ViewFilter& f) const;

  store::Store& store;
  // The update thread's.
  MediaJoin join;
  ItemCache items;
  ClientTally tally{false};  // counts the derivation's plays
  Derivation derivation;
  std::uint64_t last_id = 0;
  bool finished = false;
  std::vector<Play> new_plays;
  std::vector<Run> new_runs;
  std::vector<SearchRow> new_searches;

  // Shared, under `mutex`.
  mutable std::mutex mutex;
  std::vector<Play> plays;  // ended, in order of their end
  std::vector<Play> held_plays;  // ended, still in their scrobble window (replaced each update)
  std::vector<Run> runs;    // ended and open
  std::vector<SearchView> searches;
  std::vector<QueueOutcome> queues;
  std::unordered_map<std::uint64_t, SearchOutcome> outcomes;
  std::vector<ClientRow> clients;
  Coverage coverage;
  std::vector<NowPlaying> now_playing;
  std::int64_t updated_ms = 0;
};

void Insights::Impl::read_new() {
  store::EventFilter filter;
  filter.after_id = last_id;
  read_events(store, filter, true,
              [&](const store::StoredEvent& e, Kind kind, const capture::EventFields& f) {
                derivation.add(e, kind, f);
                tally.add(e, kind, f);
                last_id = e.id;
              });
}

void Insights::Impl::publish(bool final) {
  std::vector<SearchView> searched;
  searched.reserve(new_searches.size());
  for (SearchRow& r : new_searches) {
    SearchView v{std::move(r), {}, {}};
    if (const auto* account = derivation.plays().account_of(v.row.token_fp)) {
      v.account_id = account->id;
      v.user_name = account->name;
    }
    searched.push_back(std::move(v));
  }
  new_searches.clear();
  std::vector<QueueOutcome> queue_rows;
  for (const QueueOutcome* q : derivation.queues().rows()) queue_rows.push_back(*q);
  std::vector<Run> open_runs;
  if (!final) derivation.runs().for_each_open([&](const Run& r) { open_runs.push_back(r); });
  // Plays that have ended but are held for their scrobble window count in the views already.
  std::vector<Play> pending;
  if (!final) derivation.plays().for_each_pending([&](const Play& p) { pending.push_back(p); });
  std::vector<NowPlaying> open;
  if (!final)
    derivation.plays().for_each_open([&](const PlayBuilder::OpenPlay& o) {
      NowPlaying n;
      n.client_id = o.row->client_id;
      n.rating_key = o.row->rating_key;
      n.title = o.row->title;
      n.show_title = o.row->show_title;
      n.user_name = o.row->user_name;
      n.account_id = o.row->account_id;
      n.state = state_name(o.state);
      n.position_ms = o.position_ms;
      n.duration_ms = o.row->duration_ms;
      n.started_at_ms = o.row->started_at_ms;
      n.source = o.source;
      open.push_back(std::move(n));
    });
  auto client_rows = tally.rows();
  Coverage c = tally.coverage(&derivation.plays());
  for (const ClientRow& r : client_rows)
    if (r.on_server && !r.via_proxy) c.bypassing.push_back(r);

  std::lock_guard lock(mutex);
  // Runs still open are replaced on every update; ended ones stay.
  std::erase_if(runs, [&](const Run& r) {
    return std::any_of(open_runs.begin(), open_runs.end(),
                       [&](const Run& o) { return o.run_id == r.run_id; }) ||
           std::any_of(new_runs.begin(), new_runs.end(),
                       [&](const Run& n) { return n.run_id == r.run_id; });
  });
  for (Run& r : new_runs) runs.push_back(std::move(r));
  for (Run& r : open_runs) runs.push_back(std::move(r));
  new_runs.clear();
  for (Play& p : new_plays) plays.push_back(std::move(p));
  new_plays.clear();
  for (SearchView& s : searched) searches.push_back(std::move(s));
  queues = std::move(queue_rows);
  outcomes = derivation.search_outcomes();
  clients = std::move(client_rows);
  coverage = std::move(c);
  now_playing = std::move(open);
  held_plays = std::move(pending);
  updated_ms = now_ms();
}

Insights::Insights(store::Store& store) : impl_(std::make_unique<Impl>(store)) {}
Insights::~Insights() = default;

void Insights::update() {
  if (impl_->finished) throw std::logic_error("Insights::update after finish");
  impl_->read_new();
  impl_->derivation.advance_to(now_ms() - kSettleMs);
  impl_->publish(false);
}

void Insights::finish() {
  if (impl_->finished) return;
  impl_->read_new();
  impl_->derivation.finish(std::nullopt);
  impl_->tally.finish(std::nullopt);
  impl_->finished = true;
  impl_->publish(true);
}

std::vector<View> Insights::Impl::views(const ViewFilter& f) const {
  std::vector<const Play*> ps;
  for (const auto* list : {&plays, &held_plays})
    for (const Play& p : *list)
      if (keeps(f, p.started_at_ms, p.account_id, p.user_name)) ps.push_back(&p);
  std::vector<const SearchView*> ss;
  for (const SearchView& s : searches)
    if (keeps(f, s.row.ts_ms, s.account_id, s.user_name)) ss.push_back(&s);
  std::vector<const Run*> rs;
  for (const Run& r : runs)
    if (keeps(f, r.started_at_ms, r.account_id, r.user_name)) rs.push_back(&r);
  std::vector<const QueueOutcome*> qs;
  for (const QueueOutcome& q : queues)
    if (keeps(f, q.created_at_ms, q.account_id, q.user_name)) qs.push_back(&q);

  std::vector<View> out;
  std::int64_t watched = 0;
  std::unordered_set<std::string> users, client_ids;
  for (const Play* p : ps) {
    watched += p->watched_ms;
    if (auto u = user_label(p->account_id, p->user_name); !u.empty()) users.insert(u);
    client_ids.insert(p->client_id);
  }
  std::uint64_t converted = 0;
  for (const SearchView* s : ss) converted += outcomes.count(s->row.id);
  std::uint64_t binges = 0, abandoned = 0;
  for (const Run* r : rs) binges += r->binge;
  for (const QueueOutcome* q : qs) abandoned += q->abandoned();

  {
    View v{"overview", "Overview", {}, {}, {}, {}};
    v.columns = {{"plays", "Plays", "int"},
                 {"watched", "Watch time", "ms"},
                 {"users", "Users", "int"},
                 {"clients", "Clients", "int"},
                 {"searches", "Searches", "int"},
                 {"search_conversion", "Searches that led to a play", "ratio"},
                 {"runs", "Runs", "int"},
                 {"binges", "Binges", "int"},
                 {"queues", "Play queues", "int"},
                 {"abandoned_queues", "Abandoned queues", "int"}};
    v.rows.push_back({count(ps.size()), watched, count(users.size()), count(client_ids.size()),
                      count(ss.size()), ratio(converted, ss.size()), count(rs.size()),
                      count(binges), count(qs.size()), count(abandoned)});
    out.push_back(std::move(v));
  }

  {  // Skips per show and per episode: only plays of items with such markers count.
    struct Skips {
      std::string show, title;
      std::uint64_t plays = 0, with_intro = 0, intro = 0, with_credits = 0, credits = 0,
                    stopped_in_credits = 0;
    };
    std::map<std::string, Skips> shows, episodes;
    for (const Play* p : ps) {
      const std::string show = p->show_title.empty() ? p->rating_key : p->show_title;
      for (auto* s : {&shows[show], &episodes[p->rating_key]}) {
        s->show = show;
        s->title = p->title.empty() ? p->rating_key : p->title;
        ++s->plays;
        if (p->intro_skipped) {
          ++s->with_intro;
          s->intro += *p->intro_skipped;
        }
        if (p->credits_skipped) {
          ++s->with_credits;
          s->credits += *p->credits_skipped;
        }
        s->stopped_in_credits += p->stopped_in_credits.value_or(false);
      }
    }
    auto skip_view = [&](std::string_view name, std::string_view title,
                         const std::map<std::string, Skips>& by, bool episode) {
      View v{name, title, {}, {}, {}, {}};
      v.columns = {{"show", "Show", "string"}};
      if (episode) v.columns.push_back({"episode", "Episode", "string"});
      v.columns.insert(v.columns.end(), {{"plays", "Plays", "int"},
                                         {"intro_skips", "Intro skips", "int"},
                                         {"intro_skip_rate", "Intro skip rate", "ratio"},
                                         {"credits_skips", "Credits skips", "int"},
                                         {"credits_skip_rate", "Credits skip rate", "ratio"},
                                         {"stopped_in_credits", "Stopped in the credits", "int"}});
      for (const auto& [key, s] : by) {
        std::vector<Cell> row{text(s.show)};
        if (episode) row.push_back(text(s.title));
        row.insert(row.end(), {count(s.plays), count(s.intro), ratio(s.intro, s.with_intro),
                               count(s.credits), ratio(s.credits, s.with_credits),
                               count(s.stopped_in_credits)});
        v.rows.push_back(std::move(row));
      }
      top(v, episode ? 2 : 1);
      v.chart = Chart{episode ? "episode" : "show", {"intro_skips", "credits_skips"}};
      out.push_back(std::move(v));
    };
    skip_view("skips_by_show", "Intro and credits skips per show", shows, false);
    skip_view("skips_by_episode", "Intro and credits skips per episode", episodes, true);
  }

  {
    View v{"binge_runs", "Runs of plays (binges: three or more episodes of one show in a row)",
           {}, {}, {}, {}};
    v.columns = {{"started_at", "Started", "time"},     {"user", "User", "string"},
                 {"client_id", "Client", "string"},     {"plays", "Plays", "int"},
                 {"shows", "Shows", "int"},             {"longest_same_show_streak", "Longest streak", "int"},
                 {"watched", "Watch time", "ms"},       {"binge", "Binge", "bool"},
                 {"intro_skips", "Intro skips", "int"}, {"credits_skips", "Credits skips", "int"}};
    for (const Run* r : rs)
      v.rows.push_back({time_cell(r->started_at_ms), text(user_label(r->account_id, r->user_name)),
                        text(r->client_id), count(r->plays), count(r->shows),
                        count(r->longest_same_show_streak), r->watched_ms, r->binge,
                        count(r->intro_skips), count(r->credits_skips)});
    top(v, 3);
    out.push_back(std::move(v));
  }

  {
    struct Query {
      std::uint64_t searches = 0, played = 0, zero = 0;
      std::int64_t last_ms = 0;
      std::vector<std::int64_t> ms_to_play;
    };
    std::map<std::string, Query> queries;
    for (const SearchView* s : ss) {
      Query& q = queries[s->row.query];
      ++q.searches;
      q.last_ms = std::max(q.last_ms, s->row.ts_ms);
      if (s->row.result_count && *s->row.result_count == 0) ++q.zero;
      if (auto it = outcomes.find(s->row.id); it != outcomes.end()) {
        ++q.played;
        q.ms_to_play.push_back(it->second.ms_to_play);
      }
    }
    View v{"top_searches", "Searches and what they led to", {}, {}, {}, {}};
    v.columns = {{"query", "Query", "string"},
                 {"searches", "Searches", "int"},
                 {"played", "Led to a play", "int"},
                 {"conversion", "Conversion", "ratio"},
                 {"median_time_to_play", "Median time to play", "ms"}};
    View zero{"zero_result_searches", "Searches that found nothing", {}, {}, {}, {}};
    zero.columns = {{"query", "Query", "string"},
                    {"searches", "Searches", "int"},
                    {"last_at", "Last", "time"}};
    for (const auto& [query, q] : queries) {
      v.rows.push_back({text(query), count(q.searches), count(q.played),
                        ratio(q.played, q.searches),
                        q.ms_to_play.empty() ? Cell{} : Cell{median(q.ms_to_play)}});
      if (q.zero) zero.rows.push_back({text(query), count(q.zero), time_cell(q.last_ms)});
    }
    top(v, 1);
    v.chart = Chart{"query", {"searches", "played"}};
    top(zero, 1);
    out.push_back(std::move(v));
    out.push_back(std::move(zero));
  }

  {
    struct QueueKind {
      std::uint64_t queues = 0, shuffled = 0, abandoned = 0, items = 0, played = 0;
    };
    std::map<std::string, QueueKind> kinds;
    for (const QueueOutcome* q : qs) {
      QueueKind& k = kinds[q->type.empty() ? "unknown" : q->type];
      ++k.queues;
      k.shuffled += q->shuffled;
      k.abandoned += q->abandoned();
      k.items += q->items;
      k.played += q->items_played;
    }
    View v{"queue_outcomes", "Play queues by type", {}, {}, {}, {}};
    v.columns = {{"type", "Type", "string"},          {"queues", "Queues", "int"},
                 {"shuffled", "Shuffled", "int"},     {"abandoned", "Abandoned", "int"},
                 {"abandon_rate", "Abandon rate", "ratio"}, {"items", "Items queued", "int"},
                 {"items_played", "Items played", "int"}};
    for (const auto& [type, k] : kinds)
      v.rows.push_back({text(type), count(k.queues), count(k.shuffled), count(k.abandoned),
                        ratio(k.abandoned, k.queues), count(k.items), count(k.played)});
    top(v, 1);
    v.chart = Chart{"type", {"queues", "abandoned"}};
    out.push_back(std::move(v));
  }

  {
    std::map<std::pair<std::string, std::string>, std::pair<std::uint64_t, std::int64_t>> by;
    std::map<std::pair<std::string, std::string>, std::uint64_t> decisions;
    for (const Play* p : ps) {
      auto& [n, w] = by[{p->video_resolution.empty() ? "unknown" : p->video_resolution,
                         p->hdr.empty() ? "sdr" : p->hdr}];
      ++n;
      w += p->watched_ms;
      std::string reason = p->decision ? p->decision->general_text : std::string();
      ++decisions[{std::string(decision_kind(*p)), reason}];
    }
    View v{"versions", "Versions played: resolution and dynamic range", {}, {}, {}, {}};
    v.columns = {{"version", "Version", "string"},
                 {"video_resolution", "Resolution", "string"},
                 {"hdr", "Dynamic range", "string"},
                 {"plays", "Plays", "int"},
                 {"watched", "Watch time", "ms"}};
    for (const auto& [key, value] : by)
      v.rows.push_back({key.first + " " + key.second, text(key.first), text(key.second),
                        count(value.first), value.second});
    top(v, 3);
    v.chart = Chart{"version", {"plays"}};
    out.push_back(std::move(v));

    View d{"decisions", "Transcode decisions", {}, {}, {}, {}};
    d.columns = {{"decision", "Decision", "string"},
                 {"reason", "Reason", "string"},
                 {"plays", "Plays", "int"}};
    for (const auto& [key, n] : decisions)
      d.rows.push_back({text(key.first), text(key.second), count(n)});
    top(d, 2);
    d.chart = Chart{"decision", {"plays"}};
    out.push_back(std::move(d));
  }

  {
    struct Who {
      std::uint64_t plays = 0;
      std::int64_t watched = 0, last = 0;
      std::unordered_set<std::string> clients;
    };
    std::map<std::string, Who> people;
    struct Player {
      std::uint64_t plays = 0;
      std::int64_t watched = 0;
      std::string user;
    };
    std::map<std::string, Player> players;
    for (const Play* p : ps) {
      std::string user = user_label(p->account_id, p->user_name);
      Who& w = people[user.empty() ? "unknown" : user];
      ++w.plays;
      w.watched += p->watched_ms;
      w.last = std::max(w.last, p->started_at_ms);
      w.clients.insert(p->client_id);
      Player& c = players[p->client_id];
      ++c.plays;
      c.watched += p->watched_ms;
      if (!user.empty()) c.user = user;
    }
    View v{"users", "Watch time per user", {}, {}, {}, {}};
    v.columns = {{"user", "User", "string"},
                 {"plays", "Plays", "int"},
                 {"watched", "Watch time", "ms"},
                 {"clients", "Clients", "int"},
                 {"last_play", "Last play", "time"}};
    for (const auto& [user, w] : people)
      v.rows.push_back({text(user), count(w.plays), w.watched, count(w.clients.size()),
                        time_cell(w.last)});
    top(v, 2);
    v.chart = Chart{"user", {"plays"}};
    out.push_back(std::move(v));

    // Every client seen in the range, with the plays it made there (a user filter keeps
    // the clients that user played on).
    View c{"clients", "Watch time per client", {}, {}, {}, {}};
    c.columns = {{"client_id", "Client", "string"}, {"product", "Product", "string"},
                 {"device_name", "Device", "string"}, {"user", "User", "string"},
                 {"plays", "Plays", "int"},           {"watched", "Watch time", "ms"},
                 {"via_proxy", "Through the proxy", "bool"}};
    for (const ClientRow& r : clients) {
      if ((f.since_ms && r.last_seen_ms < *f.since_ms) || (f.until_ms && r.first_seen_ms >= *f.until_ms))
        continue;
      auto it = players.find(r.client_id);
      if (!f.user.empty() && it == players.end()) continue;
      const Player none;
      const Player& p = it == players.end() ? none : it->second;
      c.rows.push_back({text(r.client_id), text(r.product), text(r.device_name), text(p.user),
                        count(p.plays), p.watched, r.via_proxy});
    }
    top(c, 4);
    c.chart = Chart{"client_id", {"plays"}};
    out.push_back(std::move(c));
  }

  {
    View v{"coverage", "Clients the server saw that bypass the proxy", {}, {}, {}, {}};
    v.columns = {{"client_id", "Client", "string"},
                 {"product", "Product", "string"},
                 {"device_name", "Device", "string"},
                 {"last_seen", "Last seen", "time"}};
    for (const ClientRow& r : coverage.bypassing)
      v.rows.push_back({text(r.client_id), text(r.product), text(r.device_name),
                        time_cell(r.last_seen_ms)});
    v.note = std::to_string(coverage.server_clients_via_proxy) + " of " +
             std::to_string(coverage.server_clients) +
             " clients the server saw came through the proxy; " +
             std::to_string(coverage.server_plays_via_proxy) + " of " +
             std::to_string(coverage.server_plays) + " plays";
    out.push_back(std::move(v));
  }
  return out;
}

std::string Insights::views_json(const ViewFilter& filter) const {
  std::lock_guard lock(impl_->mutex);
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("since");
  if (filter.since_ms)
    w.string(base::rfc3339_ms(*filter.since_ms));
  else
    w.null();
  w.key("until");
  if (filter.until_ms)
    w.string(base::rfc3339_ms(*filter.until_ms));
  else
    w.null();
  put_string_or_null(w, "user", filter.user);
  w.key("generated_at");
  w.string(base::rfc3339_ms(impl_->updated_ms ? impl_->updated_ms : now_ms()));
  w.key("views");
  w.begin_array();
  for (const View& v : impl_->views(filter)) write_view(w, v);
  w.end_array();
  w.end_object();
  return out;
}

std::string Insights::now_playing_json() const {
  std::lock_guard lock(impl_->mutex);
  std::unordered_map<std::string, const ClientRow*> known;
  for (const ClientRow& r : impl_->clients) known.emplace(r.client_id, &r);
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("sessions");
  w.begin_array();
  for (const NowPlaying& n : impl_->now_playing) {
    auto it = known.find(n.client_id);
    const ClientRow* r = it == known.end() ? nullptr : it->second;
    w.begin_object();
    put_string_or_null(w, "client_id", n.client_id);
    put_string_or_null(w, "product", r ? std::string_view(r->product) : std::string_view());
    put_string_or_null(w, "device_name", r ? std::string_view(r->device_name) : std::string_view());
    put_user(w, n.account_id, n.user_name);
    put_string_or_null(w, "rating_key", n.rating_key);
    put_string_or_null(w, "title", n.title);
    put_string_or_null(w, "show_title", n.show_title == n.title ? std::string() : n.show_title);
    put_string_or_null(w, "state", n.state);
    put_optional(w, "position_ms", n.position_ms);
    put_optional(w, "duration_ms", n.duration_ms);
    put_time(w, "started_at", n.started_at_ms);
    w.key("source");
    w.string(to_string(n.source));
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return out;
}

std::string Insights::users_json() const {
  std::lock_guard lock(impl_->mutex);
  std::map<std::string, std::optional<std::int64_t>> users;
  for (const Play& p : impl_->plays)
    if (p.account_id || !p.user_name.empty()) users.emplace(user_label(p.account_id, p.user_name), p.account_id);
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("users");
  w.begin_array();
  for (const auto& [name, id] : users) {
    w.begin_object();
    put_optional(w, "account_id", id);
    put_string_or_null(w, "name", name);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return out;
}

std::string Insights::export_text(std::string_view kind, ExportFormat format,
                                  const ViewFilter& filter) const {
  if (kind != "plays" && kind != "runs" && kind != "queue_outcomes" && kind != "clients")
    throw std::invalid_argument("unknown export kind '" + std::string(kind) +
                                "' (one of: plays, runs, queue_outcomes, clients)");
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* memory = ::open_memstream(&buffer, &size);
  if (!memory) throw std::runtime_error("cannot buffer an export");
  {
    auto sink = make_record_sink(format, schema_of(kind), {}, memory);
    std::string json;
    auto add = [&](auto&& write) {
      json.clear();
      JsonWriter w(json);
      write(w);
      sink->write(json);
    };
    std::lock_guard lock(impl_->mutex);
    const Impl& m = *impl_;
    if (kind == "plays") {
      MediaJoin join(m.store);
      for (const Play& p : m.plays)
        if (m.keeps(filter, p.started_at_ms, p.account_id, p.user_name))
          add([&](JsonWriter& w) { write_play(p, w, join.media(p.rating_key)); });
    } else if (kind == "runs") {
      for (const Run& r : m.runs)
        if (m.keeps(filter, r.started_at_ms, r.account_id, r.user_name))
          add([&](JsonWriter& w) { write_run(r, w); });
    } else if (kind == "queue_outcomes") {
      for (const QueueOutcome& q : m.queues)
        if (m.keeps(filter, q.created_at_ms, q.account_id, q.user_name))
          add([&](JsonWriter& w) { write_queue_outcome(q, w); });
    } else {
      for (const ClientRow& r : m.clients)
        if (m.keeps(filter, r.last_seen_ms, std::nullopt, {}))
          add([&](JsonWriter& w) { write_client(r, w); });
    }
    sink->flush();
  }
  std::fclose(memory);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

}  // namespace plextap::analytics
