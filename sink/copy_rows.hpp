// Rows for PostgreSQL's COPY (text format), made from export records: each record's JSON
// is parsed once and its values put in the typed columns of every table it goes to.
// A value that does not fit its column's type (a field the server sent as text where a
// number was expected, a time that does not parse) is written NULL rather than failing the
// batch: a failing row would stop replication for good, and `events.record` keeps every
// value as it was.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "sink/tables.hpp"

namespace plextap::sink {

class CopyRows {
 public:
  CopyRows(const Table& table, std::string server_id)
      : table_(&table), server_id_(std::move(server_id)) {}

  const Table& table() const { return *table_; }
  // `COPY "table" (columns) FROM STDIN`, into `target` instead when given (a staging table).
  std::string copy_sql(std::string_view target = {}) const;
  std::string_view data() const { return data_; }
  std::size_t rows() const { return rows_; }
  void clear() {
    data_.clear();
    rows_ = 0;
  }

 private:
  friend class RowEncoder;
  const Table* table_;
  std::string server_id_;
  std::string data_;
  std::size_t rows_ = 0;
};

class RowEncoder {
 public:
  RowEncoder();
  ~RowEncoder();
  RowEncoder(const RowEncoder&) = delete;
  RowEncoder& operator=(const RowEncoder&) = delete;

  // Adds the record `json` as one row to each of `into`; false (nothing added) when it is
  // not a JSON object. Derived rows get their row_key from the table's key fields.
  bool add(std::string_view json, std::initializer_list<CopyRows*> into);
  // The natural id of a derived row, as add() writes it in row_key; empty when `json` is not
  // a JSON object.
  std::string row_key(const Table& table, std::string_view json);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plextap::sink
