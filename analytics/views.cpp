// A first Insights (views.hpp): a few plain views over rows kept in memory — events per
// kind, clients, searches, plays per client — enough for the report and the dashboard to
// render real data. update() reads only what was committed since its last call, outside
// the lock; the answers read the rows under it and never touch the store.
#include "analytics/views.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "analytics/clients.hpp"
#include "analytics/play_feed.hpp"
#include "analytics/plays.hpp"
#include "base/json_writer.hpp"
#include "base/time.hpp"
#include "capture/event.hpp"

namespace plextap::analytics {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct User {
  std::optional<std::int64_t> account_id;
  std::string name;
};

struct EventRow {
  std::int64_t ts_ms = 0;
  Kind kind = Kind::other;
  std::string client_id;
  User user;
};

struct SearchRow {
  std::int64_t ts_ms = 0;
  std::string client_id, query;
  std::optional<std::int64_t> result_count;
  User user;
};

// The latest position a client reported, for "now playing".
struct Position {
  std::int64_t ts_ms = 0, started_ms = 0;
  std::string rating_key, state;
  std::optional<std::int64_t> time_ms, duration_ms;
  bool from_server = false;
  User user;
};

bool matches(const User& u, const std::string& wanted) {
  if (wanted.empty()) return true;
  if (u.name == wanted) return true;
  return u.account_id && std::to_string(*u.account_id) == wanted;
}

bool in_range(std::int64_t ts, const ViewFilter& f) {
  return (!f.since_ms || ts >= *f.since_ms) && (!f.until_ms || ts < *f.until_ms);
}

struct Column {
  std::string_view name, label, type;
};

// A view up to its rows: {"name":…,"title":…,"columns":[…],"rows":[ — end_view closes it.
void begin_view(base::JsonWriter& w, std::string_view name, std::string_view title,
                std::initializer_list<Column> columns) {
  w.begin_object();
  w.key("name");
  w.string(name);
  w.key("title");
  w.string(title);
  w.key("columns");
  w.begin_array();
  for (const auto& c : columns) {
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
}

// `chart` is the chart hint's JSON text; empty `chart` or `note`: null.
void end_view(base::JsonWriter& w, std::string_view chart, std::string_view note) {
  w.end_array();
  w.key("chart");
  if (chart.empty())
    w.null();
  else
    w.raw(chart);
  w.key("note");
  if (note.empty())
    w.null();
  else
    w.string(note);
  w.end_object();
}

void string_or_null(base::JsonWriter& w, std::string_view s) {
  if (s.empty())
    w.null();
  else
    w.string(s);
}

template <typename T>
void optional_or_null(base::JsonWriter& w, const std::optional<T>& v) {
  if (!v)
    w.null();
  else if constexpr (std::is_same_v<T, double>)
    w.number(*v);
  else
    w.int64(*v);
}

}  // namespace

struct Insights::Impl {
  explicit Impl(store::Store& s)
      : store(s),
        builder(
            PlayOptions{}, [](std::string_view) -> const Markers* { return nullptr; },
            [this](const Play& p) { emitted.push_back(p); }) {}

  store::Store& store;
  // update()'s own, touched by no other thread.
  std::uint64_t last_id = 0;
  PlayBuilder builder;
  std::vector<Play> emitted;

  mutable std::mutex mutex;  // guards what follows
  std::vector<EventRow> events;
  std::vector<SearchRow> searches;
  std::map<std::string, ClientRow> clients;
  std::map<std::string, Position> positions;
  std::vector<Play> plays;
  std::vector<std::string> held;  // the clients of plays not ended yet
  std::map<std::pair<std::int64_t, std::string>, bool> users;

  std::string device_of(const std::string& client_id) const {
    auto it = clients.find(client_id);
    if (it == clients.end()) return client_id;
    return it->second.device_name.empty() ? client_id : it->second.device_name;
  }

  void activity_view(base::JsonWriter& w, const ViewFilter& f) const;
  void clients_view(base::JsonWriter& w, const ViewFilter& f) const;
  void searches_view(base::JsonWriter& w, const ViewFilter& f) const;
  void plays_view(base::JsonWriter& w, const ViewFilter& f) const;
};

Insights::Insights(store::Store& store) : impl_(std::make_unique<Impl>(store)) {}
Insights::~Insights() = default;

void Insights::update() {
  auto& m = *impl_;
  std::vector<EventRow> events;
  std::vector<SearchRow> searches;
  std::vector<std::pair<std::string, ClientRow>> seen;
  std::vector<std::pair<std::string, Position>> positions;
  store::EventFilter filter;
  filter.after_id = m.last_id;
  read_events(m.store, filter, true,
              [&](const store::StoredEvent& e, Kind kind, const capture::EventFields& f) {
                m.last_id = e.id;
                const bool server = !capture::is_proxy_kind(kind);
                User user{f.account_id, std::string(f.user_name)};
                events.push_back({e.ts_ms, kind, std::string(f.client_id), user});
                if (kind == Kind::search)
                  searches.push_back({e.ts_ms, std::string(f.client_id), std::string(f.query),
                                      f.result_count, user});
                if (!f.client_id.empty()) {
                  ClientRow c;
                  c.product = f.product;
                  c.platform = f.platform;
                  c.device_name = f.device_name;
                  c.client_id = f.client_id;
                  c.first_seen_ms = c.last_seen_ms = e.ts_ms;
                  c.via_proxy = !server;
                  c.on_server = server;
                  seen.emplace_back(std::string(f.client_id), std::move(c));
                }
                const bool position = kind == Kind::timeline || kind == Kind::session ||
                                      (kind == Kind::notification && f.op == "playing");
                if (position && !f.client_id.empty()) {
                  Position p;
                  p.ts_ms = p.started_ms = e.ts_ms;
                  p.rating_key = f.rating_key;
                  p.state = f.state;
                  p.time_ms = f.time_ms;
                  p.duration_ms = f.duration_ms;
                  p.from_server = server;
                  p.user = user;
                  positions.emplace_back(std::string(f.client_id), std::move(p));
                }
                m.builder.add(play_input(f, kind, e.ts_ms));
              });
  std::vector<std::string> held;
  m.builder.for_each_held([&](std::string_view client, PlaySource) { held.emplace_back(client); });

  std::lock_guard lock(m.mutex);
  for (auto& [id, c] : seen) {
    auto [it, fresh] = m.clients.try_emplace(id, c);
    ClientRow& row = it->second;
    if (fresh) continue;
    if (!c.product.empty()) row.product = c.product;
    if (!c.platform.empty()) row.platform = c.platform;
    if (!c.device_name.empty()) row.device_name = c.device_name;
    row.last_seen_ms = c.last_seen_ms;
    row.via_proxy = row.via_proxy || c.via_proxy;
    row.on_server = row.on_server || c.on_server;
  }
  for (auto& [id, p] : positions) {
    auto& row = m.positions[id];
    if (row.rating_key == p.rating_key && row.state != "stopped") p.started_ms = row.started_ms;
    if (p.user.name.empty() && !p.user.account_id) p.user = row.user;
    row = std::move(p);
  }
  for (const auto& e : events)
    if (!e.user.name.empty() || e.user.account_id)
      m.users[{e.user.account_id.value_or(-1), e.user.name}] = true;
  m.events.insert(m.events.end(), events.begin(), events.end());
  m.searches.insert(m.searches.end(), searches.begin(), searches.end());
  m.plays.insert(m.plays.end(), m.emitted.begin(), m.emitted.end());
  m.emitted.clear();
  m.held = std::move(held);
}

void Insights::Impl::activity_view(base::JsonWriter& w, const ViewFilter& f) const {
  std::map<std::string, std::int64_t> per_kind;
  for (const auto& e : events)
    if (in_range(e.ts_ms, f) && matches(e.user, f.user))
      ++per_kind[std::string(capture::to_string(e.kind))];
  begin_view(w, "activity", "Recorded events per kind",
             {{"kind", "Kind", "string"}, {"events", "Events", "int"}});
  for (const auto& [kind, n] : per_kind) {
    w.begin_array();
    w.string(kind);
    w.int64(n);
    w.end_array();
  }
  end_view(w, R"({"kind":"bar","label":"kind","values":["events"]})", {});
}

void Insights::Impl::clients_view(base::JsonWriter& w, const ViewFilter& f) const {
  struct Count {
    std::int64_t events = 0, first = 0, last = 0;
  };
  std::map<std::string, Count> counts;
  for (const auto& e : events) {
    if (e.client_id.empty() || !in_range(e.ts_ms, f) || !matches(e.user, f.user)) continue;
    auto& c = counts[e.client_id];
    if (!c.events++) c.first = e.ts_ms;
    c.last = e.ts_ms;
  }
  begin_view(w, "clients", "Clients",
             {{"device_name", "Device", "string"},
              {"product", "Product", "string"},
              {"platform", "Platform", "string"},
              {"events", "Events", "int"},
              {"first_seen", "First seen", "time"},
              {"last_seen", "Last seen", "time"},
              {"via_proxy", "Through the proxy", "bool"}});
  for (const auto& [id, c] : counts) {
    const auto it = clients.find(id);
    static const ClientRow kNone;
    const ClientRow& info = it == clients.end() ? kNone : it->second;
    w.begin_array();
    w.string(info.device_name.empty() ? id : info.device_name);
    string_or_null(w, info.product);
    string_or_null(w, info.platform);
    w.int64(c.events);
    w.string(base::rfc3339_ms(c.first));
    w.string(base::rfc3339_ms(c.last));
    w.boolean(info.via_proxy);
    w.end_array();
  }
  end_view(w, R"({"kind":"bar","label":"device_name","values":["events"]})", {});
}

void Insights::Impl::searches_view(base::JsonWriter& w, const ViewFilter& f) const {
  constexpr std::size_t kShown = 100;
  begin_view(w, "searches", "Latest searches",
             {{"ts", "Time", "time"},
              {"query", "Query", "string"},
              {"result_count", "Results", "int"},
              {"client", "Client", "string"}});
  std::size_t shown = 0;
  for (auto it = searches.rbegin(); it != searches.rend() && shown < kShown; ++it) {
    if (!in_range(it->ts_ms, f) || !matches(it->user, f.user)) continue;
    ++shown;
    w.begin_array();
    w.string(base::rfc3339_ms(it->ts_ms));
    string_or_null(w, it->query);
    optional_or_null(w, it->result_count);
    w.string(device_of(it->client_id));
    w.end_array();
  }
  end_view(w, {}, "The latest 100, newest first.");
}

void Insights::Impl::plays_view(base::JsonWriter& w, const ViewFilter& f) const {
  struct Sum {
    std::int64_t plays = 0, open = 0, watched_ms = 0, with_completion = 0;
    double completion = 0;
  };
  std::map<std::string, Sum> sums;
  for (const auto& p : plays) {
    if (!in_range(p.started_at_ms, f)) continue;
    if (!f.user.empty() && !matches(User{p.account_id, p.user_name}, f.user)) continue;
    auto& s = sums[p.client_id];
    ++s.plays;
    s.watched_ms += p.watched_ms;
    if (p.completion) {
      s.completion += *p.completion;
      ++s.with_completion;
    }
  }
  // Plays not ended yet are going on now: in every range that reaches the present.
  if (f.user.empty() && (!f.until_ms || *f.until_ms > now_ms()))
    for (const auto& id : held) ++sums[id].open;
  begin_view(w, "plays", "Plays per client",
             {{"client", "Client", "string"},
              {"plays", "Plays ended", "int"},
              {"open", "Open or just ended", "int"},
              {"watched_ms", "Watched", "ms"},
              {"completion", "Average completion", "ratio"}});
  for (const auto& [id, s] : sums) {
    w.begin_array();
    w.string(device_of(id));
    w.int64(s.plays);
    w.int64(s.open);
    w.int64(s.watched_ms);
    if (s.with_completion)
      w.number(s.completion / static_cast<double>(s.with_completion));
    else
      w.null();
    w.end_array();
  }
  end_view(w, R"({"kind":"bar","label":"client","values":["plays","open"]})",
           "A play counts as ended once it stopped and its scrobble window (5 minutes) has passed; "
           "its watched time counts from then.");
}

std::string Insights::views_json(const ViewFilter& filter) const {
  std::string out;
  base::JsonWriter w(out);
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
  w.key("user");
  string_or_null(w, filter.user);
  w.key("generated_at");
  w.string(base::rfc3339_ms(now_ms()));
  w.key("views");
  w.begin_array();
  std::lock_guard lock(impl_->mutex);
  impl_->activity_view(w, filter);
  impl_->plays_view(w, filter);
  impl_->searches_view(w, filter);
  impl_->clients_view(w, filter);
  w.end_array();
  w.end_object();
  return out;
}

std::string Insights::now_playing_json() const {
  // A position older than a play's idle timeout belongs to a play that is over.
  constexpr std::int64_t kStale = 5 * 60'000;
  const std::int64_t now = now_ms();
  std::string out;
  base::JsonWriter w(out);
  w.begin_object();
  w.key("sessions");
  w.begin_array();
  std::lock_guard lock(impl_->mutex);
  for (const auto& [id, p] : impl_->positions) {
    if (p.state == "stopped" || now - p.ts_ms > kStale) continue;
    const auto it = impl_->clients.find(id);
    static const ClientRow kNone;
    const ClientRow& info = it == impl_->clients.end() ? kNone : it->second;
    w.begin_object();
    w.key("client_id");
    w.string(id);
    w.key("product");
    string_or_null(w, info.product);
    w.key("device_name");
    string_or_null(w, info.device_name);
    w.key("user");
    string_or_null(w, p.user.name);
    w.key("rating_key");
    string_or_null(w, p.rating_key);
    w.key("title");
    w.null();
    w.key("state");
    string_or_null(w, p.state);
    w.key("position_ms");
    optional_or_null(w, p.time_ms);
    w.key("duration_ms");
    optional_or_null(w, p.duration_ms);
    w.key("started_at");
    w.string(base::rfc3339_ms(p.started_ms));
    w.key("source");
    w.string(p.from_server ? "server" : "proxy");
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return out;
}

std::string Insights::users_json() const {
  std::string out;
  base::JsonWriter w(out);
  w.begin_object();
  w.key("users");
  w.begin_array();
  std::lock_guard lock(impl_->mutex);
  for (const auto& [user, _] : impl_->users) {
    w.begin_object();
    w.key("account_id");
    if (user.first >= 0)
      w.int64(user.first);
    else
      w.null();
    w.key("name");
    string_or_null(w, user.second);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return out;
}

std::string Insights::export_text(std::string_view kind, ExportFormat format,
                                  const ViewFilter& filter) const {
  static const std::set<std::string_view> kKinds{"plays", "runs", "queue_outcomes", "searches",
                                                 "clients"};
  if (!kKinds.count(kind))
    throw std::invalid_argument("unknown export kind " + std::string(kind) +
                                "; known: plays, runs, queue_outcomes, searches, clients");
  std::vector<std::string> rows;
  std::vector<std::string> fallback;
  {
    std::lock_guard lock(impl_->mutex);
    if (kind == "plays") {
      fallback = {"client_id", "rating_key", "started_at", "ended_at"};
      for (const auto& p : impl_->plays) {
        if (!in_range(p.started_at_ms, filter) ||
            !matches(User{p.account_id, p.user_name}, filter.user))
          continue;
        std::string json;
        base::JsonWriter w(json);
        write_play(p, w);
        rows.push_back(std::move(json));
      }
    } else if (kind == "searches") {
      fallback = {"ts", "client_id", "query", "result_count"};
      for (const auto& s : impl_->searches) {
        if (!in_range(s.ts_ms, filter) || !matches(s.user, filter.user)) continue;
        std::string json;
        base::JsonWriter w(json);
        w.begin_object();
        w.key("ts");
        w.string(base::rfc3339_ms(s.ts_ms));
        w.key("client_id");
        string_or_null(w, s.client_id);
        w.key("query");
        string_or_null(w, s.query);
        w.key("result_count");
        optional_or_null(w, s.result_count);
        w.end_object();
        rows.push_back(std::move(json));
      }
    } else if (kind == "clients") {
      fallback = {"client_id", "product", "platform", "device_name", "first_seen", "last_seen"};
      for (const auto& [id, row] : impl_->clients) {
        if (!in_range(row.last_seen_ms, filter)) continue;
        std::string json;
        base::JsonWriter w(json);
        write_client(row, w);
        rows.push_back(std::move(json));
      }
    }
  }
  char* buf = nullptr;
  std::size_t size = 0;
  std::FILE* out = ::open_memstream(&buf, &size);
  if (!out) throw std::runtime_error("out of memory");
  {
    auto sink = make_record_sink(format, out);
    if (sink->needs_columns())
      for (const auto& r : rows) sink->learn(r);
    sink->begin(fallback);
    for (const auto& r : rows) sink->write(r);
    sink->flush();
  }
  std::fclose(out);
  std::string text(buf, size);
  std::free(buf);
  return text;
}

}  // namespace plextap::analytics
