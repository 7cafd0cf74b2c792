// `plextap export`: events from the store as JSON lines or CSV, filtered by kind, time and
// client, optionally following new events as they are committed.
#pragma once

#include <simdjson.h>

#include <atomic>
#include <cstdio>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/store.hpp"

namespace plextap::capture {

enum class ExportFormat { jsonl, csv };

struct ExportOptions {
  std::string kind =
      "events";  // events, timeline, scrobbles, ratings, queues, decisions, transcodes, searches
  ExportFormat format = ExportFormat::jsonl;
  std::optional<std::int64_t> since_ms, until_ms;
  std::string client;  // client identifier; empty: all
  bool follow = false;
  const std::atomic<bool>* stop = nullptr;  // set from a signal handler to end --follow
};

// The export kinds and the event kinds each covers. Throws std::invalid_argument for an
// unknown name (the message lists the known ones).
std::vector<std::uint8_t> kinds_of_export(const std::string& name);
const std::vector<std::string>& event_export_names();

// Writes the events to `out`; returns how many were written.
std::uint64_t export_events(store::Store& store, const ExportOptions& options, std::FILE* out);
// `plextap export plays`: viewing sessions rebuilt from timeline events (DESIGN section 7),
// with the scrobble, decision and search that belong to each, and media joined.
std::uint64_t export_plays(store::Store& store, const ExportOptions& options, std::FILE* out);
// `plextap export media`: the enrichment table, one record per rating key.
std::uint64_t export_media(store::Store& store, ExportFormat format, std::FILE* out);

// Writes JSON records as JSON lines, or as CSV with nested objects flattened into `a.b`
// columns (arrays and `params` stay JSON text). CSV needs every column before the first
// row: feed each record to learn_columns() first, then begin(), then write().
class RecordSink {
 public:
  RecordSink(ExportFormat format, std::FILE* out);
  void learn_columns(std::string_view json);
  // Writes the CSV header (`fallback` when no record taught any column).
  void begin(std::vector<std::string> fallback);
  void write(std::string_view json);
  void flush();
  std::uint64_t written() const { return written_; }

 private:
  void learn_column(std::string name);
  void flatten_record(std::string_view json);
  ExportFormat format_;
  std::FILE* out_;
  std::string buf_;
  std::uint64_t written_ = 0;
  std::vector<std::string> columns_;
  std::unordered_map<std::string, std::size_t> column_index_;
  std::vector<std::pair<std::string, std::string>> cells_;
  std::vector<std::string_view> row_;
  simdjson::dom::parser parser_;
};

}  // namespace plextap::capture
