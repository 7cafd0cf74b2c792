#include "store/store.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace plextap::store {
namespace {

Env::Options env_options(bool read_only, std::size_t map_size) {
  Env::Options o;
  o.read_only = read_only;
  o.initial_map_size = map_size;
  return o;
}

std::filesystem::path prepare_dir(const std::filesystem::path& dir, bool read_only) {
  if (read_only) {
    if (!std::filesystem::exists(dir / "data.mdb"))
      throw Error("no store at " + dir.string() + " (has `plextap serve` recorded anything?)",
                  ENOENT);
  } else {
    std::filesystem::create_directories(dir);
    ::chmod(dir.c_str(), 0700);
  }
  return dir;
}

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string EventHeader::encode() const {
  std::string out(kSize, '\0');
  out[0] = static_cast<char>(format);
  out[1] = static_cast<char>(kind);
  out[2] = static_cast<char>(flags);
  auto ts = static_cast<std::uint64_t>(ts_ms);
  for (int i = 0; i < 8; ++i)
    out[8 + static_cast<std::size_t>(i)] = static_cast<char>((ts >> (8 * i)) & 0xff);
  return out;
}

std::optional<EventHeader> EventHeader::decode(std::string_view bytes) {
  if (bytes.size() < kSize || static_cast<std::uint8_t>(bytes[0]) != kRecordFormat)
    return std::nullopt;
  EventHeader h;
  h.kind = static_cast<std::uint8_t>(bytes[1]);
  h.flags = static_cast<std::uint8_t>(bytes[2]);
  std::uint64_t ts = 0;
  for (int i = 7; i >= 0; --i)
    ts = (ts << 8) | static_cast<unsigned char>(bytes[8 + static_cast<std::size_t>(i)]);
  h.ts_ms = static_cast<std::int64_t>(ts);
  return h;
}

Store::Store(const std::filesystem::path& dir, bool read_only, std::size_t initial_map_size)
    : dir_(prepare_dir(dir, read_only)), env_(dir_, env_options(read_only, initial_map_size)) {
  Txn txn(env_, !read_only);
  unsigned create = read_only ? 0 : MDB_CREATE;
  meta = txn.open_db("meta", create);
  auto version = txn.get(meta, "schema_version");
  if (version) {
    if (*version != std::to_string(kSchemaVersion))
      throw Error("store " + dir.string() + " has schema version " + std::string(*version) +
                      "; this plextap reads version " + std::to_string(kSchemaVersion),
                  MDB_INCOMPATIBLE);
  } else if (read_only) {
    throw Error("store " + dir.string() + " is not initialised", MDB_INVALID);
  } else {
    txn.put(meta, "schema_version", std::to_string(kSchemaVersion));
    txn.put(meta, "created_at", now_rfc3339());
  }
  events = txn.open_db("events", create);
  exchanges = txn.open_db("exchanges", create);
  by_kind = txn.open_db("by_kind", create);
  by_rating_key = txn.open_db("by_rating_key", create);
  // Tables added after the first store format: a read-only open of an older store may
  // not find them, which reads as empty.
  for (auto [name, dbi] :
       {std::pair{"media", &media_table}, std::pair{"accounts", &accounts_table}}) {
    MDB_dbi opened;
    if (mdb_dbi_open(txn.get(), name, read_only ? 0 : MDB_CREATE, &opened) == MDB_SUCCESS)
      *dbi = opened;
  }
  txn.commit();
}

std::uint64_t Store::for_each_event(const EventFilter& filter,
                                    const std::function<bool(const StoredEvent&)>& fn) {
  Txn txn(env_, false);
  std::uint64_t from =
      std::max(filter.after_id + 1, filter.since_ms ? first_id_at(*filter.since_ms) : 0);
  std::uint64_t last = filter.after_id;
  auto visit = [&](std::uint64_t id, std::string_view value) {
    auto header = EventHeader::decode(value);
    if (!header) return true;  // a record of a format this version does not know: skip
    if (filter.until_ms && header->ts_ms >= *filter.until_ms)
      return id < first_id_at(*filter.until_ms);
    if (filter.since_ms && header->ts_ms < *filter.since_ms) return true;
    last = id;
    return fn(StoredEvent{id, header->kind, header->flags, header->ts_ms,
                          value.substr(EventHeader::kSize)});
  };
  if (filter.kind) {
    Cursor index(txn, by_kind);
    const char kind = static_cast<char>(*filter.kind);
    std::string start(1, kind);
    start += encode_u64(from);
    for (bool ok = index.seek(start); ok && index.key()[0] == kind; ok = index.next()) {
      std::uint64_t id = decode_u64(index.key().substr(1));
      auto value = txn.get(events, index.key().substr(1));
      if (value && !visit(id, *value)) break;
    }
  } else {
    Cursor cursor(txn, events);
    for (bool ok = cursor.seek(encode_u64(from)); ok; ok = cursor.next())
      if (!visit(decode_u64(cursor.key()), cursor.value())) break;
  }
  return last;
}

std::optional<std::string> Store::exchange(std::uint64_t id) {
  Txn txn(env_, false);
  auto value = txn.get(exchanges, encode_u64(id));
  if (!value) return std::nullopt;
  return std::string(*value);
}

std::uint64_t Store::dropped() const {
  std::FILE* f = std::fopen((dir_ / "dropped").c_str(), "r");
  if (!f) return 0;
  unsigned long long n = 0;
  if (std::fscanf(f, "%llu", &n) != 1) n = 0;
  std::fclose(f);
  return n;
}

bool Store::save_dropped(std::uint64_t count) const {
  auto tmp = dir_ / "dropped.tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return false;
  bool ok = std::fprintf(f, "%llu\n", static_cast<unsigned long long>(count)) > 0;
  ok = std::fclose(f) == 0 && ok;
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, dir_ / "dropped", ec);
  return ok && !ec;
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

void Store::for_each_media(const std::function<bool(std::string_view, std::string_view)>& fn) {
  if (!media_table) return;
  Txn txn(env_, false);
  Cursor cursor(txn, media_table);
  for (bool ok = cursor.first(); ok; ok = cursor.next())
    if (!fn(cursor.key(), cursor.value())) break;
}

void Store::for_each_rating_key(
    const std::function<void(std::string_view, const std::vector<std::uint64_t>&)>& fn) {
  Txn txn(env_, false);
  Cursor cursor(txn, by_rating_key);
  std::string current;
  std::vector<std::uint64_t> ids;
  for (bool ok = cursor.first(); ok; ok = cursor.next()) {
    auto key = cursor.key();
    if (key.size() < 9) continue;
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
  return EventHeader::decode(*value);
}

Store::Summary Store::summary() {
  Summary s;
  Txn txn(env_, false);
  MDB_stat stat;
  mdb_stat(txn.get(), events, &stat);
  s.events = stat.ms_entries;
  {
    Cursor cursor(txn, events);
    if (cursor.first())
      if (auto h = EventHeader::decode(cursor.value())) s.first_ms = h->ts_ms;
    if (cursor.last())
      if (auto h = EventHeader::decode(cursor.value())) s.last_ms = h->ts_ms;
  }
  {
    // Count per kind by walking each kind's index range boundaries would need a scan;
    // the index is small (9-byte keys), so a scan is cheap enough for `stats`.
    Cursor index(txn, by_kind);
    for (bool ok = index.first(); ok; ok = index.next())
      ++s.per_kind[static_cast<std::uint8_t>(index.key()[0])];
  }
  s.dropped = dropped();
  std::error_code ec;
  s.file_bytes = std::filesystem::file_size(dir_ / "data.mdb", ec);
  s.map_bytes = env_.map_size();
  return s;
}

}  // namespace plextap::store
