// Where exports write their records: each record is one JSON object, written as a JSON
// line, or as a CSV row whose columns come from the export kind's schema (schema.hpp):
// nested objects flattened into `a.b` columns, arrays and the free-form `params` object JSON
// text in one cell. The CSV header is written before any record, so an empty export has it
// and `--follow` never meets a field its header lacks. Output is buffered and flushed every
// megabyte, so `--follow` and large exports stream.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "analytics/schema.hpp"

namespace plextap::analytics {

enum class ExportFormat { jsonl, csv };

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void write(std::string_view json) = 0;
  // Hands what is buffered to the file.
  void flush();
  std::uint64_t written() const { return written_; }

 protected:
  explicit RecordSink(std::FILE* out);
  // Counts a record whose text is in buf_, and flushes when the buffer is full.
  void written_one();
  std::string buf_;

 private:
  std::FILE* out_;
  std::uint64_t written_ = 0;
};

// `columns` (from select_columns) narrows the output to those fields, in CSV in that
// order, in JSON lines keeping the record's shape; empty: every field. `schema` must
// outlive the sink. A record field the schema lacks is left out of a CSV row and named
// once in a warning, never dropped silently.
std::unique_ptr<RecordSink> make_record_sink(ExportFormat format, const Schema& schema,
                                             const std::vector<std::string>& columns,
                                             std::FILE* out);

}  // namespace plextap::analytics
