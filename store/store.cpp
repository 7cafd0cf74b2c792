// The store's tables and records (layout in store.hpp): opening and migrating, event ids,
// the record checksum, reading back with damage counted. About 400 lines: one table set.
#include "store/store.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "base/time.hpp"
#include "store/checksum.hpp"
#include "store/migration.hpp"

namespace plextap::store {
namespace {

// Reads of a whole table give the pages they read back this often (Txn::release_pages),
// so that their memory stays flat whatever the size of the store. (The kernel maps pages
// around each one read, of other tables too: an index walk alone would map the file.)
constexpr std::uint64_t kReleaseEvery = 16'384;

Env::Options env_options(bool read_only, std::size_t map_size) {
  Env::Options o;
  o.read_only = read_only;
  o.initial_map_size = map_size;
  return o;
}

std::filesystem::path prepare_dir(const std::filesystem::path& dir, bool read_only) {
  if (read_only) {
    // Unless it is certainly not there, LMDB's open says what is wrong (a permission).
    std::error_code ec;
    if (!std::filesystem::exists(dir / "data.mdb", ec) && !ec)
      throw Error("no store at " + dir.string() + " (has `plextap serve` recorded anything?)",
                  ENOENT);
  } else {
    std::filesystem::create_directories(dir);
    ::chmod(dir.c_str(), 0700);
  }
  return dir;
}

std::string now_rfc3339() {
  return base::rfc3339_seconds(std::time(nullptr));
}

// The bytes a format 2 checksum covers: the id, the header but its checksum, the JSON.
std::uint32_t event_checksum(std::uint64_t id, std::string_view header, std::string_view json) {
  std::uint32_t crc = crc32c(encode_u64(id));
  crc = crc32c(header.substr(0, 4), crc);
  crc = crc32c(header.substr(8, 8), crc);
  return crc32c(json, crc);
}

std::uint32_t read_le32(std::string_view bytes) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  return v;
}

}  // namespace

std::string EventHeader::encode(std::uint64_t id, std::string_view json) const {
  std::string out(kSize, '\0');
  out[0] = static_cast<char>(kRecordFormat);
  out[1] = static_cast<char>(kind);
  out[2] = static_cast<char>(flags);
  out[3] = has_exchange ? 1 : 0;
  auto ts = static_cast<std::uint64_t>(ts_ms);
  for (int i = 0; i < 8; ++i)
    out[8 + static_cast<std::size_t>(i)] = static_cast<char>((ts >> (8 * i)) & 0xff);
  const std::uint32_t crc = event_checksum(id, out, json);
  for (int i = 0; i < 4; ++i)
    out[4 + static_cast<std::size_t>(i)] = static_cast<char>((crc >> (8 * i)) & 0xff);
  out.append(json);
  return out;
}

std::optional<EventHeader> EventHeader::decode(std::uint64_t id, std::string_view value,
                                               std::string* problem) {
  auto fail = [&](const char* why) -> std::optional<EventHeader> {
    if (problem) *problem = "event " + std::to_string(id) + ": " + why;
    return std::nullopt;
  };
  if (value.size() < kSize + 2) return fail("shorter than an event record");
  const auto format = static_cast<std::uint8_t>(value[0]);
  const std::string_view header = value.substr(0, kSize), json = value.substr(kSize);
  if (format == 1) {
    if (header[3] != 0 || read_le32(header.substr(4)) != 0) return fail("not an event record");
  } else if (format == kRecordFormat) {
    if ((header[3] & ~1) != 0) return fail("not an event record");
    if (read_le32(header.substr(4)) != event_checksum(id, header, json))
      return fail("checksum mismatch");
  } else {
    return fail("not an event record (unknown format)");
  }
  if (json.front() != '{' || json.back() != '}') return fail("its JSON is not an object");
  EventHeader h;
  h.format = format;
  h.kind = static_cast<std::uint8_t>(value[1]);
  h.flags = static_cast<std::uint8_t>(value[2]);
  h.has_exchange = format == kRecordFormat && (header[3] & 1);
  std::uint64_t ts = 0;
  for (int i = 7; i >= 0; --i)
    ts = (ts << 8) | static_cast<unsigned char>(value[8 + static_cast<std::size_t>(i)]);
  h.ts_ms = static_cast<std::int64_t>(ts);
  return h;
}

Store::Store(const std::filesystem::path& dir, bool read_only, std::size_t initial_map_size)
    : dir_(prepare_dir(dir, read_only)),
      env_(dir_, env_options(read_only, initial_map_size)),
      drops_(dir_) {
  // The drop count's files are made while there is space: adding to it later needs none.
  if (!read_only) drops_.prepare();
  // An older store is copied and migrated before anything else reads it (migration.hpp).
  if (!read_only) migrate(env_, dir_, kSchemaVersion);
  Txn txn(env_, !read_only);
  unsigned create = read_only ? 0 : MDB_CREATE;
  // A table this store must have: missing in a store that has a schema version, it was
  // lost with a damaged page.
  auto table = [&](const char* name) {
    try {
      return txn.open_db(name, create);
    } catch (const Error& e) {
      if (e.code() != MDB_NOTFOUND) throw;
      throw env_.damage(std::string("its table ") + name + " is missing");
    }
  };
  meta = table("meta");
  auto version = txn.get(meta, "schema_version");
  if (version) {
    const bool digits = !version->empty() && version->size() <= 9 &&
                        version->find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits) throw env_.damage("its schema version is not a number");
    const auto number = static_cast<std::uint32_t>(std::stoul(std::string(*version)));
    if (number > kSchemaVersion)
      throw Error("store " + dir.string() + " has schema version " + std::string(*version) +
                      ", written by a later plextap; this one reads up to version " +
                      std::to_string(kSchemaVersion),
                  MDB_INCOMPATIBLE);
    // Read-only, an older store reads as it is when no step changed the encoding since.
    for (const auto& step : migrations())
      if (number < kSchemaVersion && step.from >= number)
        throw Error("store " + dir.string() + " has schema version " + std::string(*version) +
                        "; start `plextap serve` on it once to migrate it (a copy is kept)",
                    MDB_INCOMPATIBLE);
  } else if (read_only) {
    throw Error("store " + dir.string() + " is not initialised", MDB_INVALID);
  } else {
    txn.put(meta, "schema_version", std::to_string(kSchemaVersion));
    txn.put(meta, "created_at", now_rfc3339());
  }
  events = table("events");
  exchanges = table("exchanges");
  by_kind = table("by_kind");
  by_rating_key = table("by_rating_key");
  // Tables added after the first store format: a read-only open of an older store may
  // not find them, which reads as empty.
  for (auto [name, dbi] :
       {std::pair{"media", &media_table}, std::pair{"accounts", &accounts_table}}) {
    MDB_dbi opened;
    int rc = txn.guarded("cannot open store table",
                         [&, n = name] { return mdb_dbi_open(txn.get(), n, create, &opened); });
    if (rc == MDB_SUCCESS)
      *dbi = opened;
    else if (rc != MDB_NOTFOUND)
      throw env_.error(rc, std::string("cannot open store table ") + name);
  }
  txn.commit();
}

void Store::check_count(const Txn& txn, MDB_dbi dbi, std::uint64_t found, const char* table) {
  MDB_stat stat;
  if (mdb_stat(txn.get(), dbi, &stat) == MDB_SUCCESS && stat.ms_entries != found)
    note_damage("the table " + std::string(table) + " holds " + std::to_string(stat.ms_entries) +
                " records, of which " + std::to_string(found) + " could be found");
}

void Store::note_damage(const std::string& what) {
  std::lock_guard lock(damage_mutex_);
  if (damaged_++ == 0) first_damage_ = what;
}

std::uint64_t Store::damaged_records() const {
  std::lock_guard lock(damage_mutex_);
  return damaged_;
}

void Store::throw_if_damaged() const {
  std::lock_guard lock(damage_mutex_);
  if (damaged_ == 0) return;
  if (damaged_ == 1)
    throw env_.damage("a record could not be read and was left out (" + first_damage_ + ")");
  throw env_.damage(std::to_string(damaged_) +
                    " records could not be read and were left out (the first: " + first_damage_ +
                    ")");
}

std::uint64_t Store::for_each_event(const EventFilter& filter,
                                    const std::function<bool(const StoredEvent&)>& fn) {
  Txn txn(env_, false);
  std::uint64_t from =
      std::max(filter.after_id + 1, filter.since_ms ? first_id_at(*filter.since_ms) : 0);
  std::uint64_t last = filter.after_id;
  std::uint64_t previous = 0;  // ids come in increasing order, or a page is damaged
  std::uint64_t found = 0;
  std::string problem;
  auto visit = [&](std::uint64_t id, std::string_view value) {
    ++found;
    if (id <= previous) {
      note_damage("event " + std::to_string(id) + ": out of order after " +
                  std::to_string(previous));
      return true;
    }
    auto header = EventHeader::decode(id, value, &problem);
    if (!header) {
      note_damage(problem);
      return true;
    }
    previous = id;
    if (filter.until_ms && header->ts_ms >= *filter.until_ms)
      return id < first_id_at(*filter.until_ms);
    if (filter.since_ms && header->ts_ms < *filter.since_ms) return true;
    last = id;
    return fn(StoredEvent{id, header->kind, header->flags, header->ts_ms,
                          value.substr(EventHeader::kSize), header->has_exchange});
  };
  bool whole = true;  // not stopped by `fn`
  if (filter.kind) {
    Cursor index(txn, by_kind);
    const char kind = static_cast<char>(*filter.kind);
    std::string start(1, kind);
    start += encode_u64(from);
    for (bool ok = index.seek(start); ok && !index.key().empty() && index.key()[0] == kind;
         ok = index.next()) {
      if (index.key().size() != 9) {
        note_damage("an entry of the kind index is not a kind and an id");
        continue;
      }
      std::uint64_t id = decode_u64(index.key().substr(1));
      auto value = txn.get(events, index.key().substr(1));
      if (!value) {
        note_damage("the kind index names event " + std::to_string(id) + ", which is missing");
        continue;
      }
      if (!visit(id, *value)) {
        whole = false;
        break;
      }
    }
    // As below: a damaged page can hide a part of the index without any error. The whole
    // index is counted (its 9-byte keys are a small part of the store).
    if (whole && from <= 1 && !filter.until_ms) {
      std::uint64_t entries = 0;
      for (bool ok = index.first(); ok; ok = index.next())
        if (++entries % kReleaseEvery == 0) txn.release_pages();
      check_count(txn, by_kind, entries, "by_kind");
    }
  } else {
    Cursor cursor(txn, events);
    for (bool ok = cursor.seek(encode_u64(from)); ok; ok = cursor.next()) {
      if (cursor.key().size() != 8) {
        ++found;
        note_damage("an event's key is not an id");
        continue;
      }
      if (!visit(decode_u64(cursor.key()), cursor.value())) {
        whole = false;
        break;
      }
    }
    // A read of the whole table also finds every record LMDB counts: a damaged branch
    // page can hide a part of the tree without any error.
    if (whole && from <= 1 && !filter.until_ms) check_count(txn, events, found, "events");
  }
  return last;
}

std::optional<std::string> Store::exchange(std::uint64_t id) {
  Txn txn(env_, false);
  auto value = txn.get(exchanges, encode_u64(id));
  if (!value) return std::nullopt;
  return std::string(*value);
}

std::optional<std::string> Store::media(std::string_view rating_key) {
  if (!media_table) return std::nullopt;
  Txn txn(env_, false);
  auto value = txn.get(media_table, rating_key);
  if (!value) return std::nullopt;
  return std::string(*value);
}

std::optional<std::string> Store::account(std::string_view client_id) {
  if (!accounts_table) return std::nullopt;
  Txn txn(env_, false);
  auto value = txn.get(accounts_table, client_id);
  if (!value) return std::nullopt;
  return std::string(*value);
}

std::optional<std::string> Store::meta_value(std::string_view key) {
  Txn txn(env_, false);
  auto value = txn.get(meta, key);
  if (!value) return std::nullopt;
  return std::string(*value);
}

void Store::put_meta(std::string_view key, std::string_view value) {
  Txn txn(env_, true);
  txn.put(meta, key, value);
  txn.commit();
}

void Store::for_each_media(const std::function<bool(std::string_view, std::string_view)>& fn) {
  if (!media_table) return;
  Txn txn(env_, false);
  Cursor cursor(txn, media_table);
  std::uint64_t found = 0;
  for (bool ok = cursor.first(); ok; ok = cursor.next(), ++found)
    if (!fn(cursor.key(), cursor.value())) return;
  check_count(txn, media_table, found, "media");
}

void Store::for_each_rating_key(
    const std::function<void(std::string_view, const std::vector<std::uint64_t>&)>& fn) {
  Txn txn(env_, false);
  Cursor cursor(txn, by_rating_key);
  std::string current;
  std::vector<std::uint64_t> ids;
  std::uint64_t read = 0;
  for (bool ok = cursor.first(); ok; ok = cursor.next()) {
    if (++read % kReleaseEvery == 0) txn.release_pages();
    auto key = cursor.key();
    if (key.size() < 10 || key[key.size() - 9] != '\0') {
      note_damage("an entry of the rating key index is not a key and an id");
      continue;
    }
    auto name = key.substr(0, key.size() - 9);
    if (name != current) {
      if (!ids.empty()) fn(current, ids);
      current.assign(name);
      ids.clear();
    }
    ids.push_back(decode_u64(key.substr(key.size() - 8)));
  }
  if (!ids.empty()) fn(current, ids);
}

std::optional<EventHeader> Store::event_header(std::uint64_t id) {
  Txn txn(env_, false);
  auto value = txn.get(events, encode_u64(id));
  if (!value) return std::nullopt;
  std::string problem;
  auto header = EventHeader::decode(id, *value, &problem);
  if (!header) note_damage(problem);
  return header;
}

std::optional<std::int64_t> Store::last_event_ms() {
  Txn txn(env_, false);
  Cursor cursor(txn, events);
  if (!cursor.last()) return std::nullopt;
  auto h = EventHeader::decode(decode_u64(cursor.key()), cursor.value());
  if (!h) return std::nullopt;
  return h->ts_ms;
}

Store::Summary Store::summary(const std::function<bool(std::string_view)>& exchange_intact) {
  Summary s;
  Txn txn(env_, false);
  MDB_stat stat;
  mdb_stat(txn.get(), events, &stat);
  s.events = stat.ms_entries;
  std::uint64_t with_exchange = 0;  // intact events that were stored with an exchange
  {
    // Every event, checked; the counts per kind are those of the intact ones.
    Cursor cursor(txn, events);
    std::uint64_t previous = 0, found = 0;
    std::string problem;
    for (bool ok = cursor.first(); ok; ok = cursor.next()) {
      if (++found % kReleaseEvery == 0) txn.release_pages();
      const std::uint64_t id = decode_u64(cursor.key());
      if (cursor.key().size() != 8 || id <= previous) {
        note_damage("an event's key is not an id in order");
        continue;
      }
      previous = id;
      auto h = EventHeader::decode(id, cursor.value(), &problem);
      if (!h) {
        note_damage(problem);
        continue;
      }
      ++s.per_kind[h->kind];
      with_exchange += h->has_exchange;
      if (!s.first_ms) s.first_ms = h->ts_ms;
      s.last_ms = h->ts_ms;
    }
    check_count(txn, events, found, "events");
  }
  {
    Cursor index(txn, by_kind);
    std::uint64_t found = 0;
    for (bool ok = index.first(); ok; ok = index.next(), ++found) {
      if (found % kReleaseEvery == 0) txn.release_pages();
      if (index.key().size() != 9)
        note_damage("an entry of the kind index is not a kind and an id");
    }
    check_count(txn, by_kind, found, "by_kind");
  }
  {
    Cursor index(txn, by_rating_key);
    std::uint64_t found = 0;
    for (bool ok = index.first(); ok; ok = index.next(), ++found) {
      if (found % kReleaseEvery == 0) txn.release_pages();
      auto key = index.key();
      if (key.size() < 10 || key[key.size() - 9] != '\0')
        note_damage("an entry of the rating key index is not a key and an id");
    }
    check_count(txn, by_rating_key, found, "by_rating_key");
  }
  mdb_stat(txn.get(), exchanges, &stat);
  if (stat.ms_entries < with_exchange)
    note_damage(std::to_string(with_exchange - stat.ms_entries) + " exchanges are missing");
  if (exchange_intact) {
    Cursor cursor(txn, exchanges);
    std::uint64_t found = 0;
    for (bool ok = cursor.first(); ok; ok = cursor.next(), ++found) {
      if (found % kReleaseEvery == 0) txn.release_pages();
      if (cursor.key().size() != 8 || !exchange_intact(cursor.value()))
        note_damage("exchange " + std::to_string(decode_u64(cursor.key())) + ": not intact");
    }
    check_count(txn, exchanges, found, "exchanges");
  }
  for (auto [dbi, name] :
       {std::pair{media_table, "media"}, std::pair{accounts_table, "accounts"}}) {
    if (!dbi) continue;
    Cursor cursor(txn, dbi);
    std::uint64_t found = 0;
    for (bool ok = cursor.first(); ok; ok = cursor.next()) ++found;
    check_count(txn, dbi, found, name);
  }
  s.dropped = dropped();
  std::error_code ec;
  s.file_bytes = std::filesystem::file_size(dir_ / "data.mdb", ec);
  s.map_bytes = env_.map_size();
  return s;
}

}  // namespace plextap::store
