// The read loop plays are built by, shared by `export plays`, `export clients` and the
// coverage of `stats`: stored events in store order, their fields read once with
// capture::EventReader, handed on as PlayInputs.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "analytics/media_join.hpp"
#include "analytics/plays.hpp"
#include "capture/event.hpp"
#include "store/store.hpp"

namespace plextap::analytics {

// The event as plays see it; kind `other` for events that make no part of a play (a
// notification other than `playing`, a resources sample, …).
PlayInput play_input(const capture::EventFields& fields, Kind kind, std::int64_t ts_ms,
                     std::uint64_t id = 0);

// ItemFacts by rating key from enrichment, cached and bounded (a PlayBuilder's lookup).
class ItemCache {
 public:
  explicit ItemCache(MediaJoin& join) : join_(join) {}
  const ItemFacts* operator()(std::string_view rating_key);

 private:
  MediaJoin& join_;
  std::unordered_map<std::string, std::optional<ItemFacts>> cache_;
};

using EventVisit =
    std::function<void(const store::StoredEvent&, Kind, const capture::EventFields&)>;

// Reads the events of `filter` in store order and calls `visit` with each one's fields:
// those of every kind when `all_kinds`, else only of the kinds plays are made of. An event
// whose JSON does not parse is counted as damage and skipped. With `max_events`, stops
// after that many events of the store (skipped ones included). Returns the last id read.
std::uint64_t read_events(store::Store& store, const store::EventFilter& filter, bool all_kinds,
                          const EventVisit& visit, std::size_t max_events = 0);

}  // namespace plextap::analytics
