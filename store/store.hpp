// The LMDB store: its tables, the record encoding, and reading events back.
//
// Tables (each a named LMDB database):
//   meta           "schema_version" -> decimal text; "created_at" -> RFC 3339 text;
//                  "server_id" -> the Plex server's machineIdentifier, once serve has learnt it
//   events         id (u64 BE) -> EventHeader (16 bytes) + the event as a JSON object
//   exchanges      id (u64 BE) -> the raw exchange, encoded by capture (opaque here)
//   by_kind        kind (1 byte) + id (u64 BE) -> empty
//   by_rating_key  rating key + '\0' + id (u64 BE) -> empty
//   media          rating key -> enrichment result, encoded by capture (opaque here)
//   accounts       client identifier -> the account the server says uses it (opaque here)
// Ids are ts_ms << 16 | sequence, so id order is time order and a time range is an id
// range. The JSON lacks "id" (export adds it): a record never needs rewriting for its id.
// The count of dropped events lives beside the environment in the file `dropped`
// (decimal text, store/drop_count.hpp): it must be recordable exactly when the store
// itself cannot be written.
//
// Damage: LMDB checks neither pages nor records, so an event carries a CRC-32C over its
// id, header and JSON (format 2; events of format 1, written before, have none). Readers
// skip a record that is not intact and count it (damaged_records), so everything intact
// is still read; LMDB's own errors about its pages end the read (store::Error, damaged()).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/drop_count.hpp"
#include "store/lmdb.hpp"

namespace plextap::store {

inline constexpr std::uint32_t kSchemaVersion = 1;
inline constexpr std::uint8_t kRecordFormat = 2;  // 1: the same without the checksum

// What a producer hands the writer: an event, or (table media) an enrichment result
// stored under `rating_key` with `json` as its value.
struct Record {
  enum class Table : std::uint8_t { events, media, accounts };
  Table table = Table::events;
  std::uint8_t kind = 0;
  std::uint8_t flags = 0;
  std::int64_t ts_ms = 0;
  std::string json;        // the event, a JSON object without "id"
  std::string exchange;    // raw exchange, may be empty
  std::string rating_key;  // indexed when not empty; the key for media and accounts
};

// Fixed little-endian header in front of each event's JSON: format, kind, flags, the
// store's own flags (format 2: 1 when an exchange was stored with the event; zero in
// format 1), the CRC-32C (format 2; zero in format 1), ts_ms.
struct EventHeader {
  std::uint8_t format = kRecordFormat;
  std::uint8_t kind = 0;
  std::uint8_t flags = 0;
  std::int64_t ts_ms = 0;
  bool has_exchange = false;  // known only in format 2
  static constexpr std::size_t kSize = 16;
  // The stored value of event `id`: this header (format 2, with the checksum) and `json`.
  std::string encode(std::uint64_t id, std::string_view json) const;
  // The header of the stored value of event `id`, when the value is an intact event
  // record (known format, checksum, a JSON object after the header); else null, with
  // the reason in `problem`. Reads only within `value`, whatever its bytes.
  static std::optional<EventHeader> decode(std::uint64_t id, std::string_view value,
                                           std::string* problem = nullptr);
};

struct StoredEvent {
  std::uint64_t id = 0;
  std::uint8_t kind = 0;
  std::uint8_t flags = 0;
  std::int64_t ts_ms = 0;
  std::string_view json;  // valid until the next event is read
  // An exchange was stored with it (format 2): when it cannot be found, it was lost.
  bool has_exchange = false;
};

inline std::uint64_t first_id_at(std::int64_t ts_ms) {
  return static_cast<std::uint64_t>(ts_ms) << 16;
}

struct EventFilter {
  std::optional<std::int64_t> since_ms;  // inclusive
  std::optional<std::int64_t> until_ms;  // exclusive
  std::optional<std::uint8_t> kind;
  std::uint64_t after_id = 0;  // only ids greater than this (for --follow)
};

class Store {
 public:
  // Opens (and, unless read_only, creates) the store in `dir`. Throws Error on a store it
  // cannot open or whose schema version it does not know.
  Store(const std::filesystem::path& dir, bool read_only,
        std::size_t initial_map_size = std::size_t{256} << 20);

  Env& env() { return env_; }
  const std::filesystem::path& dir() const { return dir_; }

  // Calls `fn` for each event matching `filter` in id order, inside one read
  // transaction; `fn` returns false to stop. Returns the last id visited.
  std::uint64_t for_each_event(const EventFilter& filter,
                               const std::function<bool(const StoredEvent&)>& fn);
  std::optional<std::string> exchange(std::uint64_t id);
  std::optional<std::string> media(std::string_view rating_key);
  std::optional<std::string> account(std::string_view client_id);
  // A value of the meta table, or null. put_meta writes one in a transaction of its own
  // (beside the writer's: LMDB takes them in turn).
  std::optional<std::string> meta_value(std::string_view key);
  void put_meta(std::string_view key, std::string_view value);
  // Every media entry in rating-key order; `fn` returns false to stop.
  void for_each_media(const std::function<bool(std::string_view key, std::string_view value)>& fn);
  // Every distinct rating key events name, with the ids of its events (ascending).
  void for_each_rating_key(
      const std::function<void(std::string_view key, const std::vector<std::uint64_t>& ids)>& fn);
  // The header of one event (kind, time), or null.
  std::optional<EventHeader> event_header(std::uint64_t id);

  // Events dropped over the store's life (the `dropped` file; 0 when absent). Throws
  // Error when the file cannot be read as a count.
  std::uint64_t dropped() const { return drops_.read(); }
  // Adds `n` to that count; false (nothing changed, the reason in `error`) when it
  // cannot be saved now.
  bool add_dropped(std::uint64_t n, std::string* error = nullptr) const {
    return drops_.add(n, error);
  }

  // Records found not intact since the store was opened (skipped by the readers above),
  // and what the first of them was. Capture's decoders report theirs with note_damage.
  void note_damage(const std::string& what);
  std::uint64_t damaged_records() const;
  // Throws a damage Error naming the count and the first one, if any was found.
  void throw_if_damaged() const;

  struct Summary {
    std::uint64_t events = 0;
    std::uint64_t per_kind[256] = {};
    std::optional<std::int64_t> first_ms, last_ms;
    std::uint64_t dropped = 0;
    std::uint64_t file_bytes = 0;
    std::uint64_t map_bytes = 0;
  };
  // Reads every record of every table it knows, so it is also the store's check: what is
  // not intact is counted in damaged_records(). `exchange_intact` checks the opaque
  // exchange records (capture's encoding); without it they are not read.
  Summary summary(const std::function<bool(std::string_view)>& exchange_intact = {});
  // When the newest event was recorded (its header only; no walk of the store).
  std::optional<std::int64_t> last_event_ms();

  MDB_dbi meta = 0, events = 0, exchanges = 0, by_kind = 0, by_rating_key = 0, media_table = 0,
          accounts_table = 0;

 private:
  void check_count(const Txn& txn, MDB_dbi dbi, std::uint64_t found, const char* table);

  std::filesystem::path dir_;
  Env env_;
  DropCount drops_;
  mutable std::mutex damage_mutex_;
  std::uint64_t damaged_ = 0;
  std::string first_damage_;
};

}  // namespace plextap::store
