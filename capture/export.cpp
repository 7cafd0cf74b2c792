#include "capture/export.hpp"

#include <simdjson.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "base/json_writer.hpp"
#include "capture/classify.hpp"
#include "capture/enricher.hpp"
#include "capture/plays.hpp"

namespace plextap::capture {
namespace {

std::uint8_t k(Kind kind) {
  return static_cast<std::uint8_t>(kind);
}

const std::map<std::string, std::vector<std::uint8_t>>& export_kinds() {
  static const std::map<std::string, std::vector<std::uint8_t>> kinds{
      {"timeline", {k(Kind::timeline)}},  {"scrobbles", {k(Kind::scrobble), k(Kind::unscrobble)}},
      {"ratings", {k(Kind::rate)}},       {"queues", {k(Kind::playqueue)}},
      {"decisions", {k(Kind::decision)}}, {"transcodes", {k(Kind::transcode)}},
      {"searches", {k(Kind::search)}},    {"other", {k(Kind::other)}},
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

// A stored record of capture's own (media, accounts) is a JSON object, or damaged.
bool is_json_object(simdjson::dom::parser& parser, std::string_view json) {
  auto doc = parser.parse(json.data(), json.size());
  return !doc.error() && doc.value().is_object();
}

// JSON text of the client id as it appears in a stored record: `"client":{"id":"…"`.
std::string client_needle(const std::string& client) {
  std::string needle = "\"client\":{\"id\":";
  base::append_json_string(needle, client);
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
    case element_type::STRING:
      text = std::string(value.get_string().value());
      break;
    case element_type::NULL_VALUE:
      break;
    case element_type::BOOL:
      text = value.get_bool().value() ? "true" : "false";
      break;
    default:
      text = simdjson::minify(value);
      break;
  }
  cells.emplace_back(prefix, std::move(text));
}

struct Filter {
  std::vector<std::uint8_t> kinds;  // empty: all
  std::string needle;               // empty: every client
  bool accepts(const store::StoredEvent& e) const {
    if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), e.kind) == kinds.end())
      return false;
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
    if (auto stored = store_.media(key)) {
      if (auto entry = MediaEntry::decode(*stored))
        media = std::move(entry->media_json);
      else
        store_.note_damage("the media entry of rating key " + std::string(key) + ": not JSON");
    }
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

  // `,"account_id":…,"name":"…"` for a client the server named in /status/sessions.
  const std::string& account_fields(std::string_view client_id) {
    auto it = accounts_.find(std::string(client_id));
    if (it != accounts_.end()) return it->second;
    std::string fields;
    auto stored = store_.account(client_id);
    if (stored && !is_json_object(parser_, *stored)) {
      store_.note_damage("the account of client " + std::string(client_id) + ": not JSON");
      stored.reset();
    }
    if (stored && stored->size() > 2) {
      // {"account_id":…,"name":…,"seen_at_ms":…} -> ,"account_id":…,"name":…
      auto end = stored->find(",\"seen_at_ms\"");
      fields = "," + stored->substr(1, (end == std::string::npos ? stored->size() - 1 : end) - 1);
    }
    return accounts_.emplace(std::string(client_id), std::move(fields)).first->second;
  }

  static std::string_view client_id_of(std::string_view json) {
    constexpr std::string_view kClient = "\"client\":{\"id\":\"";
    auto at = json.find(kClient);
    if (at == std::string_view::npos) return {};
    at += kClient.size();
    auto end = json.find('"', at);
    return end == std::string_view::npos ? std::string_view{} : json.substr(at, end - at);
  }

  // Adds the account to the record's `user` object, when the client's account is known.
  void append_with_account(std::string& buf, std::string_view json) {
    auto client = client_id_of(json);
    if (!client.empty()) {
      const std::string& fields = account_fields(client);
      auto user = json.find("\"user\":{");
      auto close = user == std::string_view::npos ? user : json.find('}', user);
      if (!fields.empty() && close != std::string_view::npos) {
        buf.append(json.substr(0, close));
        buf += fields;
        buf.append(json.substr(close));
        return;
      }
    }
    buf.append(json);
  }

  void append_event(std::string& buf, std::string_view json) {
    auto client = client_id_of(json);
    if (client.empty() || account_fields(client).empty()) return append_joined_media(buf, json);
    scratch_.clear();
    append_joined_media(scratch_, json);
    append_with_account(buf, scratch_);
  }

  void append_joined_media(std::string& buf, std::string_view json) {
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
  simdjson::dom::parser parser_;
  std::unordered_map<std::string, std::string> cache_;
  std::unordered_map<std::string, std::string> accounts_;
  std::string scratch_;
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
  static const std::vector<std::string> names{"events",     "timeline", "scrobbles",
                                              "ratings",    "queues",   "decisions",
                                              "transcodes", "searches", "other"};
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
  Filter filter{kinds_of_export(options.kind),
                options.client.empty() ? "" : client_needle(options.client)};
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
  simdjson::dom::parser parser;
  std::string json;
  // The record of one entry in `json`; false (the entry left out) when it is damaged.
  auto record = [&](std::string_view key, std::string_view value) {
    if (!is_json_object(parser, value)) return false;
    json = "{\"rating_key\":";
    base::append_json_string(json, key);
    if (value.size() > 2) json += ',';
    json.append(value.substr(1));
    return true;
  };
  if (format == ExportFormat::csv)
    store.for_each_media([&](std::string_view key, std::string_view value) {
      if (record(key, value)) sink.learn_columns(json);
      return true;
    });
  sink.begin({"rating_key", "fetched_at", "status", "error"});
  store.for_each_media([&](std::string_view key, std::string_view value) {
    if (record(key, value))
      sink.write(json);
    else  // counted on this pass only, which every format makes
      store.note_damage("the media entry of rating key " + std::string(key) + ": not JSON");
    return true;
  });
  sink.flush();
  return sink.written();
}

}  // namespace plextap::capture

namespace plextap::capture {
namespace {

// Reads the fields plays need from a stored record (DOM, so string views stay valid
// until the next parse).
bool read_play_input(simdjson::dom::element doc, std::uint8_t kind, std::int64_t ts_ms,
                     PlayInput& in) {
  auto str = [](simdjson::dom::element e, const char* key) -> std::string_view {
    auto v = e[key];
    if (v.error() || !v.is_string()) return {};
    return v.get_string().value();
  };
  auto num = [](simdjson::dom::element e, const char* key) -> std::optional<std::int64_t> {
    auto v = e[key];
    if (v.error()) return std::nullopt;
    if (auto i = v.get_int64(); !i.error()) return i.value();
    if (auto d = v.get_double(); !d.error()) return static_cast<std::int64_t>(d.value());
    return std::nullopt;
  };
  auto flag = [](simdjson::dom::element e, const char* key) -> std::optional<bool> {
    auto v = e[key];
    if (v.error()) return std::nullopt;
    if (auto b = v.get_bool(); !b.error()) return b.value();
    return std::nullopt;
  };
  in = PlayInput{};
  in.ts_ms = ts_ms;
  in.kind = static_cast<Kind>(kind);
  if (auto c = doc["client"]; !c.error()) in.client_id = str(c.value(), "id");
  in.rating_key = str(doc, "rating_key");
  switch (in.kind) {
    case Kind::timeline: {
      in.state = timeline_state_from(str(doc, "state"));
      in.time_ms = num(doc, "time_ms");
      in.duration_ms = num(doc, "duration_ms");
      auto item = doc["play_queue_item_id"];
      if (!item.error() && item.is_string())
        in.play_queue_item_id = item.get_string().value();
      else if (!item.error() && item.is_int64())
        in.play_queue_item_id = {};  // set by the caller from its own buffer
      break;
    }
    case Kind::decision: {
      in.session = str(doc, "session");
      if (auto g = doc["general_decision"]; !g.error() && g.is_object()) {
        in.general_code = num(g.value(), "code");
        in.general_text = str(g.value(), "text");
      }
      in.direct_play = flag(doc, "direct_play");
      in.direct_stream = flag(doc, "direct_stream");
      if (auto v = doc["video"]; !v.error() && v.is_object())
        in.video_decision = str(v.value(), "decision");
      if (auto a = doc["audio"]; !a.error() && a.is_object())
        in.audio_decision = str(a.value(), "decision");
      break;
    }
    case Kind::search:
      in.query = str(doc, "query");
      in.result_count = num(doc, "result_count");
      break;
    case Kind::scrobble:
    case Kind::unscrobble:
      break;
    default:
      return false;
  }
  return true;
}

// Markers and duration from a stored media object, for the plays of one item.
std::optional<Markers> markers_of(const std::string& media_json, simdjson::dom::parser& parser) {
  auto doc = parser.parse(media_json);
  if (doc.error()) return std::nullopt;
  Markers m;
  if (auto d = doc["duration_ms"].get_int64(); !d.error()) m.duration_ms = d.value();
  if (auto list = doc["markers"].get_array(); !list.error())
    for (auto marker : list.value()) {
      Marker mk;
      if (auto t = marker["type"].get_string(); !t.error()) mk.type = std::string(t.value());
      if (auto a = marker["start_ms"].get_int64(); !a.error()) mk.start_ms = a.value();
      if (auto b = marker["end_ms"].get_int64(); !b.error()) mk.end_ms = b.value();
      m.markers.push_back(std::move(mk));
    }
  return m;
}

}  // namespace

std::uint64_t export_plays(store::Store& store, const ExportOptions& options, std::FILE* out) {
  RecordSink sink(options.format, out);
  MapTrimmer trimmer;
  MediaJoin media(store);
  simdjson::dom::parser event_parser, media_parser;
  std::unordered_map<std::string, std::optional<Markers>> marker_cache;
  auto lookup = [&](std::string_view key) -> const Markers* {
    auto it = marker_cache.find(std::string(key));
    if (it == marker_cache.end()) {
      if (marker_cache.size() > 100'000) marker_cache.clear();
      const std::string& m = media.lookup(key);
      it = marker_cache
               .emplace(std::string(key), m.empty() ? std::nullopt : markers_of(m, media_parser))
               .first;
    }
    return it->second ? &*it->second : nullptr;
  };
  const std::string needle = options.client.empty() ? "" : options.client;
  std::vector<std::string> rows;  // CSV needs every column before the first row
  std::string json;
  auto emit = [&](const Play& play) {
    if (!needle.empty() && play.client_id != needle) return;
    json.clear();
    base::JsonWriter w(json);
    write_play(play, w, media.lookup(play.rating_key));
    if (options.format == ExportFormat::csv)
      rows.push_back(json);
    else
      sink.write(json);
  };
  PlayBuilder builder(PlayOptions{}, lookup, emit);
  store::EventFilter filter;
  filter.since_ms = options.since_ms;
  filter.until_ms = options.until_ms;
  const std::uint8_t wanted[] = {
      static_cast<std::uint8_t>(Kind::timeline), static_cast<std::uint8_t>(Kind::scrobble),
      static_cast<std::uint8_t>(Kind::unscrobble), static_cast<std::uint8_t>(Kind::decision),
      static_cast<std::uint8_t>(Kind::search)};
  std::string item_text;
  store.for_each_event(filter, [&](const store::StoredEvent& e) {
    trimmer.tick(e.json);
    if (std::find(std::begin(wanted), std::end(wanted), e.kind) == std::end(wanted)) return true;
    auto doc = event_parser.parse(e.json.data(), e.json.size());
    if (doc.error()) {
      store.note_damage("event " + std::to_string(e.id) + ": its JSON does not parse");
      return true;
    }
    PlayInput in;
    if (!read_play_input(doc.value(), e.kind, e.ts_ms, in)) return true;
    if (in.kind == Kind::timeline && in.play_queue_item_id.empty())
      if (auto item = doc.value()["play_queue_item_id"].get_int64(); !item.error()) {
        item_text = std::to_string(item.value());
        in.play_queue_item_id = item_text;
      }
    builder.add(in);
    return true;
  });
  builder.finish(options.until_ms);
  if (options.format == ExportFormat::csv)
    for (const auto& r : rows) sink.learn_columns(r);
  sink.begin({"client_id", "rating_key", "started_at", "ended_at"});
  for (const auto& r : rows) sink.write(r);
  sink.flush();
  return sink.written();
}

}  // namespace plextap::capture
