#include "analytics/record_sink.hpp"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <map>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "base/json_writer.hpp"

namespace plextap::analytics {
namespace {

constexpr std::size_t kBuffer = std::size_t{1} << 20;

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

// The selected fields of a record, as a tree: `media.title` picks `title` of `media`.
struct Pick {
  bool whole = false;
  std::map<std::string, Pick, std::less<>> fields;
};

Pick pick_of(const std::vector<std::string>& names) {
  Pick root;
  for (const auto& name : names) {
    Pick* at = &root;
    std::string_view rest = name;
    for (;;) {
      auto dot = rest.find('.');
      at = &at->fields[std::string(rest.substr(0, dot))];
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
    at->whole = true;
  }
  return root;
}

void write_picked(base::JsonWriter& w, simdjson::dom::object object, const Pick& pick) {
  w.begin_object();
  for (auto [key, value] : object) {
    auto it = pick.fields.find(key);
    if (it == pick.fields.end()) continue;
    w.key(key);
    if (!it->second.whole && value.is_object())
      write_picked(w, value.get_object(), it->second);
    else
      w.raw(simdjson::minify(value));
  }
  w.end_object();
}

class JsonLinesSink final : public RecordSink {
 public:
  JsonLinesSink(std::FILE* out, const std::vector<std::string>& columns)
      : RecordSink(out), pick_(pick_of(columns)) {}

  void write(std::string_view json) override {
    simdjson::dom::element doc;
    if (pick_.fields.empty()) {
      buf_.append(json);
    } else if (parser_.parse(json.data(), json.size()).get(doc) == simdjson::SUCCESS &&
               doc.is_object()) {
      base::JsonWriter w(buf_);
      write_picked(w, doc.get_object(), pick_);
    } else {
      return;
    }
    buf_ += '\n';
    written_one();
  }

 private:
  Pick pick_;
  simdjson::dom::parser parser_;
};

class CsvSink final : public RecordSink {
 public:
  CsvSink(std::FILE* out, const Schema& schema, const std::vector<std::string>& columns)
      : RecordSink(out), kind_(schema.kind), columns_(csv_columns(schema, columns)) {
    std::unordered_map<std::string, std::size_t> selected;
    for (std::size_t i = 0; i < columns_.size(); ++i) selected.emplace(columns_[i], i);
    add_slots(schema.fields, "", selected);
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (i) buf_ += ',';
      write_csv_cell(buf_, columns_[i]);
    }
    buf_ += '\n';
  }

  void write(std::string_view json) override {
    cells_.assign(columns_.size(), {});
    simdjson::dom::element doc;
    if (parser_.parse(json.data(), json.size()).get(doc) == simdjson::SUCCESS && doc.is_object())
      flatten(doc.get_object(), "");
    for (std::size_t i = 0; i < cells_.size(); ++i) {
      if (i) buf_ += ',';
      write_csv_cell(buf_, cells_[i]);
    }
    buf_ += '\n';
    written_one();
  }

 private:
  static constexpr std::ptrdiff_t kObject = -2;   // flattened into its fields' columns
  static constexpr std::ptrdiff_t kLeftOut = -1;  // a column --columns did not select

  void add_slots(const std::vector<Field>& fields, const std::string& prefix,
                 const std::unordered_map<std::string, std::size_t>& selected) {
    for (const Field& f : fields) {
      std::string name = prefix + f.name;
      if ((f.types & analytics::kObject) && !f.free_form && !f.fields.empty()) {
        add_slots(f.fields, name + ".", selected);
        slots_.emplace(std::move(name), kObject);
      } else {
        auto it = selected.find(name);
        slots_.emplace(std::move(name),
                       it == selected.end() ? kLeftOut : static_cast<std::ptrdiff_t>(it->second));
      }
    }
  }

  void flatten(simdjson::dom::object object, const std::string& prefix) {
    for (auto [key, value] : object) {
      std::string name = prefix;
      name += key;
      auto it = slots_.find(name);
      if (it == slots_.end()) {
        if (unknown_.insert(name).second)
          spdlog::warn("export {}: field {} is not in the schema; CSV rows leave it out", kind_,
                       name);
        continue;
      }
      if (it->second == kObject) {
        if (value.is_object()) flatten(value.get_object(), name + ".");
        continue;
      }
      if (it->second == kLeftOut) continue;
      cells_[static_cast<std::size_t>(it->second)] = cell_text(value);
    }
  }

  static std::string cell_text(simdjson::dom::element value) {
    using simdjson::dom::element_type;
    switch (value.type()) {
      case element_type::STRING:
        return std::string(value.get_string().value());
      case element_type::NULL_VALUE:
        return {};
      case element_type::BOOL:
        return value.get_bool().value() ? "true" : "false";
      default:
        return simdjson::minify(value);
    }
  }

  std::string kind_;
  std::vector<std::string> columns_;
  std::unordered_map<std::string, std::ptrdiff_t> slots_;
  std::unordered_set<std::string> unknown_;
  std::vector<std::string> cells_;
  simdjson::dom::parser parser_;
};

}  // namespace

RecordSink::RecordSink(std::FILE* out) : out_(out) {
  buf_.reserve(kBuffer);
}

void RecordSink::written_one() {
  ++written_;
  if (buf_.size() >= kBuffer - 65536) flush();
}

void RecordSink::flush() {
  std::fwrite(buf_.data(), 1, buf_.size(), out_);
  buf_.clear();
  std::fflush(out_);
}

std::unique_ptr<RecordSink> make_record_sink(ExportFormat format, const Schema& schema,
                                             const std::vector<std::string>& columns,
                                             std::FILE* out) {
  if (format == ExportFormat::csv) return std::make_unique<CsvSink>(out, schema, columns);
  return std::make_unique<JsonLinesSink>(out, columns);
}

}  // namespace plextap::analytics
