// `plextap export`: events, plays and media from the store as JSON lines or CSV, filtered
// by kind, time and client; events can follow new ones as they are committed.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analytics/record_sink.hpp"
#include "store/store.hpp"

namespace plextap::analytics {

struct ExportOptions {
  std::string kind = "events";  // a kind of schema_kinds(), or har
  ExportFormat format = ExportFormat::jsonl;
  std::vector<std::string> columns;  // select_columns of --columns; empty: every field
  bool no_media = false;             // leave the media join out: `media` stays null
  std::optional<std::int64_t> since_ms, until_ms;
  std::string client;  // client identifier; empty: all
  bool follow = false;
  const std::atomic<bool>* stop = nullptr;  // set from a signal handler to end --follow
};

// The export kinds and the event kinds each covers. Throws std::invalid_argument for an
// unknown name (the message lists the known ones).
std::vector<std::uint8_t> kinds_of_export(const std::string& name);
const std::vector<std::string>& event_export_names();

class MediaJoin;

// `{"id":"N",…}`: the stored event with its id in front, as a string (ids exceed 2^53, where
// JavaScript and jq 1.6 round numbers), and enrichment joined unless `join` is null: one
// record of `export events`, in `out`.
void event_record(std::string& out, const store::StoredEvent& e, MediaJoin* join);
// `{"rating_key":…,…}`: one record of `export media`, of a media entry that is a JSON object.
std::string media_record(std::string_view rating_key, std::string_view value);

// The sink of an export: the format, the schema of its kind and the columns asked for.
std::unique_ptr<RecordSink> open_sink(const ExportOptions& options, std::FILE* out);

// Writes the events to `out`; returns how many were written (export_events.cpp).
std::uint64_t export_events(store::Store& store, const ExportOptions& options, std::FILE* out);
// `plextap export plays`: viewing sessions rebuilt from timeline events (DESIGN section 7),
// with the scrobble, decision and search that belong to each, and media joined
// (export_plays.cpp).
std::uint64_t export_plays(store::Store& store, const ExportOptions& options, std::FILE* out);
// `plextap export runs`: binge runs (runs.hpp), and `plextap export queue_outcomes`: one row
// per play queue (queues.hpp), from the same pass as plays (export_plays.cpp).
std::uint64_t export_runs(store::Store& store, const ExportOptions& options, std::FILE* out);
std::uint64_t export_queue_outcomes(store::Store& store, const ExportOptions& options,
                                    std::FILE* out);
// `plextap export clients`: one row per client identifier seen on either side, with its
// coverage by the proxy and its plays (export_clients.cpp, clients.hpp).
std::uint64_t export_clients(store::Store& store, const ExportOptions& options, std::FILE* out);
// `plextap export media`: the enrichment table, one record per rating key (export_media.cpp).
std::uint64_t export_media(store::Store& store, const ExportOptions& options, std::FILE* out);

}  // namespace plextap::analytics
