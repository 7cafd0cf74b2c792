#include "replay/source.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "capture/redact_exchange.hpp"
#include "store/store.hpp"

namespace plextap::replay {
namespace {

bool in_range(std::int64_t ts_ms, const TimeRange& range) {
  return (!range.since_ms || ts_ms >= *range.since_ms) &&
         (!range.until_ms || ts_ms < *range.until_ms);
}

}  // namespace

std::vector<RecordedExchange> load_har(const std::filesystem::path& file, const TimeRange& range) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw SourceError("cannot read " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw SourceError("cannot read " + file.string());
  auto all = parse_har(text.str(), file.string());
  std::erase_if(all, [&](const RecordedExchange& r) { return !in_range(r.exchange.ts_ms, range); });
  return all;
}

std::vector<RecordedExchange> load_store(const std::filesystem::path& store_dir,
                                         const TimeRange& range) {
  std::vector<RecordedExchange> out;
  try {
    store::Store store(store_dir, true);
    store::EventFilter filter;
    filter.since_ms = range.since_ms;
    filter.until_ms = range.until_ms;
    std::vector<std::pair<std::uint64_t, bool>> ids;  // and whether it has an exchange
    store.for_each_event(filter, [&](const store::StoredEvent& e) {
      ids.emplace_back(e.id, e.has_exchange);
      return true;
    });
    store.throw_if_damaged();
    for (auto [id, has_exchange] : ids) {
      auto raw = store.exchange(id);
      if (!raw && has_exchange)
        throw SourceError("the store " + store_dir.string() + " is damaged: exchange " +
                          std::to_string(id) + " is missing");
      if (!raw) continue;  // recorded before exchanges were kept, or without one
      auto ex = capture::read_stored_exchange(*raw);
      if (!ex)
        throw SourceError("store " + store_dir.string() + ": exchange " + std::to_string(id) +
                          " is damaged or of an unknown format");
      out.push_back(RecordedExchange{id, std::move(*ex), false});
    }
  } catch (const SourceError&) {
    throw;
  } catch (const std::exception& e) {  // LMDB's errors, an unknown schema version
    throw SourceError(e.what());
  }
  return out;
}

}  // namespace plextap::replay
