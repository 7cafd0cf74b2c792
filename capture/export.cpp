#include "capture/export.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <chrono>
#include <map>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "capture/classify.hpp"
#include "capture/enricher.hpp"
#include "capture/json_writer.hpp"

namespace plextap::capture {
namespace {

std::uint8_t k(Kind kind) { return static_cast<std::uint8_t>(kind); }

const std::map<std::string, std::vector<std::uint8_t>>& export_kinds() {
  static const std::map<std::string, std::vector<std::uint8_t>> kinds{
      {"timeline", {k(Kind::timeline)}},
      {"scrobbles", {k(Kind::scrobble), k(Kind::unscrobble)}},
      {"ratings", {k(Kind::rate)}},
      {"queues", {k(Kind::playqueue)}},
      {"decisions", {k(Kind::decision)}},
      {"transcodes", {k(Kind::transcode)}},
      {"searches", {k(Kind::search)}},
      {"other", {k(Kind::other)}},
  };
  return kinds;
}

// Reading a large store touches every page of the map; file-backed pages count as the
// process's RSS until unmapped. Every so often the span of the map read so far is
// dropped from this process (MADV_DONTNEED): the pages stay in the page cache and the
// map is read-only here, so nothing is lost, and RSS stays flat whatever the size.
// (LMDB does not say where its map is, but every value it returns points into it.)
class MapTrimmer {
 public:
  void tick(std::string_view value) {
    auto begin = reinterpret_cast<std::uintptr_t>(value.data());
    lo_ = std::min(lo_, begin);
    hi_ = std::max(hi_, begin + value.size());
    if (++count_ % 8192 != 0) return;
    static const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    std::uintptr_t start = lo_ & ~(page - 1);
    // The whole span read so far: it also covers the branch pages between the leaves.
    ::madvise(reinterpret_cast<void*>(start), hi_ - start, MADV_DONTNEED);
  }

 private:
  std::uintptr_t lo_ = UINTPTR_MAX, hi_ = 0;
  std::uint64_t count_ = 0;
};

// JSON text of the client id as it appears in a stored record: `"client":{"id":"…"`.
std::string client_needle(const std::string& client) {
  std::string needle = "\"client\":{\"id\":";
  append_json_string(needle, client);
  return needle;
}

void write_csv_cell(std::string& out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// Flattens a record into column -> cell text. Nested objects become `a.b` columns;
// arrays and the free-form `params` object stay JSON text in one cell.
void flatten(simdjson::dom::element value, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& cells) {
  using simdjson::dom::element_type;
  if (value.type() == element_type::OBJECT && prefix != "params") {
    for (auto [key, child] : value.get_object()) {
      std::string name = prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
      flatten(child, name, cells);
    }
    return;
  }
  std::string text;
  switch (value.type()) {
    case element_type::STRING: text = std::string(value.get_string().value()); break;
    case element_type::NULL_VALUE: break;
    case element_type::BOOL: text = value.get_bool().value() ? "true" : "false"; break;
    default: text = simdjson::minify(value); break;
  }
  cells.emplace_back(prefix, std::move(text));
}

struct Filter {
  std::vector<std::uint8_t> kinds;  // empty: all
  std::string needle;               // empty: every client
  bool accepts(const store::StoredEvent& e) const {
    if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), e.kind) == kinds.end()) return false;
    return needle.empty() || e.json.find(needle) != std::string_view::npos;
  }
};

store::EventFilter store_filter(const ExportOptions& o, const std::vector<std::uint8_t>& kinds) {
  store::EventFilter f;
  f.since_ms = o.since_ms;
  f.until_ms = o.until_ms;
  if (kinds.size() == 1) f.kind = kinds.front();  // use the kind index
  return f;
}

// Joins enrichment results onto events: the stored record ends with "media":null, which
// is replaced by the media object of its rating key when there is one.
class MediaJoin {
 public:
  explicit MediaJoin(store::Store& store) : store_(store) {}

  // The media JSON for a rating key, or "" (cached: items repeat across events).
  const std::string& lookup(std::string_view key) {
    auto it = cache_.find(std::string(key));
    if (it != cache_.end()) return it->second;
    if (cache_.size() > 100'000) cache_.clear();  // bound memory on huge libraries
    std::string media;
    if (auto stored = store_.media(key))
      if (auto entry = MediaEntry::decode(*stored)) media = std::move(entry->media_json);
    return cache_.emplace(std::string(key), std::move(media)).first->second;
  }

  // The rating key a stored event names ("" when none).
  static std::string_view rating_key_of(std::string_view json) {
    // The top-level field follows remote_addr; params (client-controlled) come earlier.
    auto from = json.find("\"remote_addr\":");
    if (from == std::string_view::npos) return {};
    constexpr std::string_view kKey = "\"rating_key\":\"";
    auto at = json.find(kKey, from);
    if (at == std::string_view::npos) return {};
    at += kKey.size();
    auto end = json.find('"', at);
    return end == std::string_view::npos ? std::string_view{} : json.substr(at, end - at);
  }

  void append_event(std::string& buf, std::string_view json) {
    constexpr std::string_view kTail = "\"media\":null}";
    auto key = rating_key_of(json);
    if (!key.empty() && json.ends_with(kTail)) {
      const std::string& media = lookup(key);
      if (!media.empty()) {
        buf.append(json.substr(0, json.size() - kTail.size()));
        buf += "\"media\":";
        buf += media;
        buf += '}';
        return;
      }
    }
    buf.append(json);
  }

 private:
  store::Store& store_;
  std::unordered_map<std::string, std::string> cache_;
};

// `{"id":N,…}`: the stored JSON with its id in front and media joined at the end.
void event_json(std::string& out, const store::StoredEvent& e, MediaJoin& media) {
  out.clear();
  out += "{\"id\":";
  out += std::to_string(e.id);
  if (e.json.size() > 2) out += ',';
  media.append_event(out, e.json.substr(1));
}

}  // namespace

const std::vector<std::string>& event_export_names() {
  static const std::vector<std::string> names{"events",   "timeline",   "scrobbles", "ratings",
                                              "queues",   "decisions",  "transcodes", "searches",
                                              "other"};
  return names;
}

std::vector<std::uint8_t> kinds_of_export(const std::string& name) {
  if (name == "events") return {};
  auto it = export_kinds().find(name);
  if (it == export_kinds().end()) {
    std::string known;
    for (const auto& n : event_export_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown export kind '" + name + "' (one of: " + known + ")");
  }
  return it->second;
}

RecordSink::RecordSink(ExportFormat format, std::FILE* out) : format_(format), out_(out) {
  buf_.reserve(1 << 20);
}

void RecordSink::learn_columns(std::string_view json) {
  flatten_record(json);
  for (auto& [name, _] : cells_)
    if (column_index_.emplace(name, columns_.size()).second) columns_.push_back(name);
}

void RecordSink::begin(std::vector<std::string> fallback_columns) {
  if (format_ != ExportFormat::csv) return;
  if (columns_.empty())
    for (auto& c : fallback_columns) learn_column(std::move(c));
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (i) buf_ += ',';
    write_csv_cell(buf_, columns_[i]);
  }
  buf_ += '\n';
}

void RecordSink::learn_column(std::string name) {
  if (column_index_.emplace(name, columns_.size()).second) columns_.push_back(std::move(name));
}

void RecordSink::write(std::string_view json) {
  if (format_ == ExportFormat::jsonl) {
    buf_.append(json);
    buf_ += '\n';
  } else {
    flatten_record(json);
    row_.assign(columns_.size(), {});
    for (auto& [name, text] : cells_)
      if (auto it = column_index_.find(name); it != column_index_.end()) row_[it->second] = text;
    for (std::size_t i = 0; i < row_.size(); ++i) {
      if (i) buf_ += ',';
      write_csv_cell(buf_, row_[i]);
    }
    buf_ += '\n';
  }
  ++written_;
  if (buf_.size() >= (1 << 20) - 65536) flush();
}

void RecordSink::flush() {
  std::fwrite(buf_.data(), 1, buf_.size(), out_);
  buf_.clear();
  std::fflush(out_);
}

void RecordSink::flatten_record(std::string_view json) {
  cells_.clear();
  auto doc = parser_.parse(json.data(), json.size());
  if (!doc.error()) flatten(doc.value(), "", cells_);
}

std::uint64_t export_events(store::Store& store, const ExportOptions& options, std::FILE* out) {
  Filter filter{kinds_of_export(options.kind), options.client.empty() ? "" : client_needle(options.client)};
  auto base = store_filter(options, filter.kinds);
  RecordSink sink(options.format, out);
  MapTrimmer trimmer;
  MediaJoin media(store);
  std::string json;

  // CSV needs its columns first: a first pass collects them in first-seen order.
  if (options.format == ExportFormat::csv) {
    store.for_each_event(base, [&](const store::StoredEvent& e) {
      trimmer.tick(e.json);
      if (filter.accepts(e)) {
        event_json(json, e, media);
        sink.learn_columns(json);
      }
      return true;
    });
  }
  sink.begin({"id", "ts", "kind", "op"});
  auto emit = [&](const store::StoredEvent& e) {
    trimmer.tick(e.json);
    if (filter.accepts(e)) {
      event_json(json, e, media);
      sink.write(json);
    }
    return true;
  };
  std::uint64_t last = store.for_each_event(base, emit);
  sink.flush();
  while (options.follow && !(options.stop && options.stop->load())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto next = base;
    next.after_id = last;
    last = std::max(last, store.for_each_event(next, emit));
    sink.flush();
  }
  return sink.written();
}

std::uint64_t export_media(store::Store& store, ExportFormat format, std::FILE* out) {
  RecordSink sink(format, out);
  std::string json;
  auto record = [&](std::string_view key, std::string_view value) {
    json = "{\"rating_key\":";
    append_json_string(json, key);
    if (value.size() > 2) json += ',';
    json.append(value.substr(1));
  };
  if (format == ExportFormat::csv)
    store.for_each_media([&](std::string_view key, std::string_view value) {
      record(key, value);
      sink.learn_columns(json);
      return true;
    });
  sink.begin({"rating_key", "fetched_at", "status", "error"});
  store.for_each_media([&](std::string_view key, std::string_view value) {
    record(key, value);
    sink.write(json);
    return true;
  });
  sink.flush();
  return sink.written();
}

}  // namespace plextap::capture
