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

bool wanted(const ExportOptions& options, std::string_view client_id) {
  return options.client.empty() || client_id == options.client;
}

// Writes each row `write_row` makes of a T the derivation hands over.
template <typename T>
class RowWriter {
 public:
  RowWriter(const ExportOptions& options, std::FILE* out) : sink_(open_sink(options, out)) {}
  template <typename F>
  void operator()(const T& row, F&& write_row) {
    json_.clear();
    JsonWriter w(json_);
    write_row(row, w);
    sink_->write(json_);
  }
  std::uint64_t done() {
    sink_->flush();
    return sink_->written();
  }

 private:
  std::unique_ptr<RecordSink> sink_;
  std::string json_;
};

}  // namespace

std::uint64_t export_plays(store::Store& store, const ExportOptions& options, std::FILE* out) {
  MediaJoin join(store);
  RowWriter<Play> rows(options, out);
  Derivation::Emit emit;
  emit.play = [&](const Play& play) {
    if (!wanted(options, play.client_id)) return;
    rows(play, [&](const Play& p, JsonWriter& w) {
      write_play(p, w, options.no_media ? std::string_view{} : join.media(p.rating_key));
    });
  };
  derive(store, range_of(options), std::move(emit));
  return rows.done();
}

std::uint64_t export_runs(store::Store& store, const ExportOptions& options, std::FILE* out) {
  RowWriter<Run> rows(options, out);
  Derivation::Emit emit;
  emit.run = [&](const Run& run) {
    if (wanted(options, run.client_id)) rows(run, write_run);
  };
  derive(store, range_of(options), std::move(emit));
  return rows.done();
}

std::uint64_t export_queue_outcomes(store::Store& store, const ExportOptions& options,
                                    std::FILE* out) {
  RowWriter<QueueOutcome> rows(options, out);
  derive(store, range_of(options), {}, [&](Derivation& d) {
    for (const QueueOutcome* q : d.queues().rows())
      if (wanted(options, q->client_id)) rows(*q, write_queue_outcome);
  });
  return rows.done();
}

}  // namespace plextap::analytics
