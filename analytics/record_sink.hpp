// Where exports write their records: each record is one JSON object, written as a JSON
// line, or as a CSV row with nested objects flattened into `a.b` columns (arrays and the
// free-form `params` object stay JSON text in one cell). Output is buffered and flushed
// every megabyte, so `--follow` and large exports stream.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace plextap::analytics {

enum class ExportFormat { jsonl, csv };

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // CSV needs every column before its first row: when true, feed each record to learn()
  // on a first pass, then call begin(), then write() them.
  virtual bool needs_columns() const { return false; }
  virtual void learn(std::string_view /*json*/) {}
  // Starts the output; `fallback` are the columns when no record taught any.
  virtual void begin(std::vector<std::string> /*fallback*/) {}
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

std::unique_ptr<RecordSink> make_record_sink(ExportFormat format, std::FILE* out);

}  // namespace plextap::analytics
