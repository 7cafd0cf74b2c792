// `plextap export`: events from the store as JSON lines or CSV, filtered by kind, time and
// client, optionally following new events as they are committed.
#pragma once

#include <atomic>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace plextap::capture {

enum class ExportFormat { jsonl, csv };

struct ExportOptions {
  std::string kind = "events";  // events, timeline, scrobbles, ratings, queues, decisions, transcodes, searches
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

}  // namespace plextap::capture
