// `plextap export plays`, `runs` and `queue_outcomes`: the rows a Derivation makes of the
// events in range (plays from both sides, read in store order), media joined to plays.
#include <functional>

#include "analytics/derived.hpp"
#include "analytics/export.hpp"
#include "analytics/media_join.hpp"

namespace plextap::analytics {
namespace {

store::EventFilter range_of(const ExportOptions& options) {
  store::EventFilter filter;
  filter.since_ms = options.since_ms;
  filter.until_ms = options.until_ms;
  return filter;
}

// Writes the JSON rows `produce` hands over; CSV needs every column before the first row.
std::uint64_t write_rows(const ExportOptions& options, std::FILE* out,
                         std::vector<std::string> fallback,
                         const std::function<void(const std::function<void(const std::string&)>&)>& produce) {
  auto sink = make_record_sink(options.format, out);
  std::vector<std::string> rows;
  produce([&](const std::string& json) {
    if (sink->needs_columns())
      rows.push_back(json);
    else
      sink->write(json);
  });
  for (const auto& r : rows) sink->learn(r);
  sink->begin(std::move(fallback));
  for (const auto& r : rows) sink->write(r);
  sink->flush();
  return sink->written();
}

bool wanted(const ExportOptions& options, std::string_view client_id) {
  return options.client.empty() || client_id == options.client;
}

}  // namespace

std::uint64_t export_plays(store::Store& store, const ExportOptions& options, std::FILE* out) {
  MediaJoin join(store);
  return write_rows(options, out, {"client_id", "rating_key", "started_at", "ended_at"},
                    [&](const auto& write) {
                      std::string json;
                      Derivation::Emit emit;
                      emit.play = [&](const Play& play) {
                        if (!wanted(options, play.client_id)) return;
                        json.clear();
                        JsonWriter w(json);
                        write_play(play, w, join.media(play.rating_key));
                        write(json);
                      };
                      derive(store, range_of(options), std::move(emit));
                    });
}

std::uint64_t export_runs(store::Store& store, const ExportOptions& options, std::FILE* out) {
  return write_rows(options, out, {"run_id", "client_id", "started_at", "ended_at"},
                    [&](const auto& write) {
                      std::string json;
                      Derivation::Emit emit;
                      emit.run = [&](const Run& run) {
                        if (!wanted(options, run.client_id)) return;
                        json.clear();
                        JsonWriter w(json);
                        write_run(run, w);
                        write(json);
                      };
                      derive(store, range_of(options), std::move(emit));
                    });
}

std::uint64_t export_queue_outcomes(store::Store& store, const ExportOptions& options,
                                    std::FILE* out) {
  return write_rows(options, out, {"play_queue_id", "client_id", "created_at"},
                    [&](const auto& write) {
                      derive(store, range_of(options), {}, [&](Derivation& d) {
                        std::string json;
                        for (const QueueOutcome* q : d.queues().rows()) {
                          if (!wanted(options, q->client_id)) continue;
                          json.clear();
                          JsonWriter w(json);
                          write_queue_outcome(*q, w);
                          write(json);
                        }
                      });
                    });
}

}  // namespace plextap::analytics
