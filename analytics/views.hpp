// The answers of DESIGN.md section 11 as views: each view is one table (with a chart hint)
// in one JSON shape, so that `plextap report` (text, JSON, HTML) and the dashboard render
// every view alike, and a new question is a new view, not new rendering code.
//
// A view:
//   {"name":"skips","title":"Intro and credits skips per show",
//    "columns":[{"name":"show","label":"Show","type":"string"}, …],
//    "rows":[["Some Show",12,3], …],
//    "chart":{"kind":"bar","label":"show","values":["intro_skips","credits_skips"]} or null,
//    "note":"…" or null}
// Column types: "string", "int", "ms" (a duration in milliseconds), "ratio" (0..1), "time"
// (RFC 3339 text), "bool". A cell may be null.
//
// `views_json` answers {"since":…,"until":…,"user":…,"generated_at":…,"views":[view, …]}.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "analytics/record_sink.hpp"
#include "store/store.hpp"

namespace plextap::analytics {

struct ViewFilter {
  std::optional<std::int64_t> since_ms;  // inclusive; plays by their start
  std::optional<std::int64_t> until_ms;  // exclusive
  std::string user;                      // an account name or id; empty: everyone
};

// The rows every view is computed from (plays, runs, searches, queue outcomes, clients),
// built from the store's events and kept up to date by update(), which reads only what was
// committed since the last call. The other calls are safe from any thread while update()
// runs on another, and are quick: they aggregate rows held in memory, never the store.
class Insights {
 public:
  explicit Insights(store::Store& store);
  ~Insights();
  Insights(const Insights&) = delete;
  Insights& operator=(const Insights&) = delete;

  // Reads the events committed since the last call (the first reads the whole store).
  // Plays idle for a minute past their timeout count as ended (a live store: `serve`).
  void update();
  // The store is complete (`report`): every play still open ends, every run is counted.
  // update() may not be called after it.
  void finish();

  // Every view, filtered.
  std::string views_json(const ViewFilter& filter) const;
  // What plays now, from the open plays of both sides:
  // {"sessions":[{"client_id","product","device_name","user","rating_key","title","state",
  //               "position_ms","duration_ms","started_at","source"}, …]}
  std::string now_playing_json() const;
  // The users the rows name, for a filter: {"users":[{"account_id":…,"name":…}, …]}.
  std::string users_json() const;
  // One derived export (plays, runs, queue_outcomes, clients) of the rows held, as
  // `plextap export KIND` writes it. Throws std::invalid_argument for another kind.
  std::string export_text(std::string_view kind, ExportFormat format,
                          const ViewFilter& filter) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plextap::analytics
