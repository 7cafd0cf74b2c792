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

void append_jsonl(std::string& buf, const store::StoredEvent& e) {
  buf += "{\"id\":";
  buf += std::to_string(e.id);
  if (e.json.size() > 2) buf += ',';
  buf.append(e.json.substr(1));
  buf += '\n';
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

std::uint64_t export_events(store::Store& store, const ExportOptions& options, std::FILE* out) {
  Filter filter{kinds_of_export(options.kind), options.client.empty() ? "" : client_needle(options.client)};
  auto base = store_filter(options, filter.kinds);
  std::string buf;
  buf.reserve(1 << 20);
  auto flush_if_full = [&] {
    if (buf.size() >= (1 << 20) - 16384) {
      std::fwrite(buf.data(), 1, buf.size(), out);
      buf.clear();
    }
  };
  std::uint64_t written = 0;
  MapTrimmer trimmer;

  // CSV needs its columns first: a first pass collects them in first-seen order.
  std::vector<std::string> columns;
  std::unordered_map<std::string, std::size_t> column_index;
  simdjson::dom::parser parser;
  std::vector<std::pair<std::string, std::string>> cells;
  auto flatten_event = [&](const store::StoredEvent& e) {
    cells.clear();
    cells.emplace_back("id", std::to_string(e.id));
    auto doc = parser.parse(e.json.data(), e.json.size());
    if (!doc.error()) flatten(doc.value(), "", cells);
  };
  if (options.format == ExportFormat::csv) {
    store.for_each_event(base, [&](const store::StoredEvent& e) {
      trimmer.tick(e.json);
      if (!filter.accepts(e)) return true;
      flatten_event(e);
      for (auto& [name, _] : cells)
        if (column_index.emplace(name, columns.size()).second) columns.push_back(name);
      return true;
    });
    if (columns.empty()) columns = {"id", "ts", "kind", "op"};
    for (std::size_t i = 0; i < columns.size(); ++i) {
      if (i) buf += ',';
      write_csv_cell(buf, columns[i]);
    }
    buf += '\n';
  }

  std::vector<std::string_view> row;
  auto emit = [&](const store::StoredEvent& e) {
    trimmer.tick(e.json);
    if (!filter.accepts(e)) return true;
    if (options.format == ExportFormat::jsonl) {
      append_jsonl(buf, e);
    } else {
      flatten_event(e);
      row.assign(columns.size(), {});
      for (auto& [name, text] : cells)
        if (auto it = column_index.find(name); it != column_index.end()) row[it->second] = text;
      for (std::size_t i = 0; i < row.size(); ++i) {
        if (i) buf += ',';
        write_csv_cell(buf, row[i]);
      }
      buf += '\n';
    }
    ++written;
    flush_if_full();
    return true;
  };

  std::uint64_t last = store.for_each_event(base, emit);
  std::fwrite(buf.data(), 1, buf.size(), out);
  buf.clear();
  std::fflush(out);
  while (options.follow && !(options.stop && options.stop->load())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto next = base;
    next.after_id = last;
    last = std::max(last, store.for_each_event(next, emit));
    std::fwrite(buf.data(), 1, buf.size(), out);
    buf.clear();
    std::fflush(out);
  }
  return written;
}

}  // namespace plextap::capture
