#include "analytics/record_sink.hpp"

#include <simdjson.h>

#include <unordered_map>
#include <utility>

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

class JsonLinesSink final : public RecordSink {
 public:
  explicit JsonLinesSink(std::FILE* out) : RecordSink(out) {}
  void write(std::string_view json) override {
    buf_.append(json);
    buf_ += '\n';
    written_one();
  }
};

class CsvSink final : public RecordSink {
 public:
  explicit CsvSink(std::FILE* out) : RecordSink(out) {}
  bool needs_columns() const override { return true; }

  void learn(std::string_view json) override {
    flatten_record(json);
    for (auto& [name, _] : cells_) learn_column(name);
  }

  void begin(std::vector<std::string> fallback) override {
    if (columns_.empty())
      for (auto& c : fallback) learn_column(std::move(c));
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      if (i) buf_ += ',';
      write_csv_cell(buf_, columns_[i]);
    }
    buf_ += '\n';
  }

  void write(std::string_view json) override {
    flatten_record(json);
    row_.assign(columns_.size(), {});
    for (auto& [name, text] : cells_)
      if (auto it = column_index_.find(name); it != column_index_.end()) row_[it->second] = text;
    for (std::size_t i = 0; i < row_.size(); ++i) {
      if (i) buf_ += ',';
      write_csv_cell(buf_, row_[i]);
    }
    buf_ += '\n';
    written_one();
  }

 private:
  void learn_column(std::string name) {
    if (column_index_.emplace(name, columns_.size()).second) columns_.push_back(std::move(name));
  }
  void flatten_record(std::string_view json) {
    cells_.clear();
    auto doc = parser_.parse(json.data(), json.size());
    if (!doc.error()) flatten(doc.value(), "", cells_);
  }

  std::vector<std::string> columns_;
  std::unordered_map<std::string, std::size_t> column_index_;
  std::vector<std::pair<std::string, std::string>> cells_;
  std::vector<std::string_view> row_;
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

std::unique_ptr<RecordSink> make_record_sink(ExportFormat format, std::FILE* out) {
  if (format == ExportFormat::csv) return std::make_unique<CsvSink>(out);
  return std::make_unique<JsonLinesSink>(out);
}

}  // namespace plextap::analytics
