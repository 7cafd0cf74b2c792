// The PostgreSQL tables the sink keeps (DESIGN.md section 13), made from the export schemas
// (analytics/schema.hpp) so that a field added to an export becomes a column without a
// second list to keep in step. Every table starts with `server_id`. Event tables are
// appended to, keyed by (server_id, id); derived tables are upserted, keyed by (server_id,
// row_key), their natural id as one text.
//
// Columns: the export's CSV columns with '.' as '_' (`media.title` -> media_title; where
// that would name two alike, the nested one keeps its dot: decisions' "media.index"), typed
// from the schema: text, bigint, double precision, boolean, timestamptz; objects the CSV
// keeps in one cell (params, arrays) are jsonb. A field that may be a number or a string
// (ids the server types either way) is text.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace plextap::sink {

// Bumped only for a change that adding tables, columns and indexes does not cover: those
// are added on start wherever missing (schema_sql, missing_columns_sql).
inline constexpr int kSchemaVersion = 1;

enum class SqlType : std::uint8_t { text, bigint, float8, boolean, timestamptz, jsonb };
std::string_view sql_name(SqlType type);

struct Column {
  std::string name;               // in SQL, always quoted ("user_name")
  std::vector<std::string> path;  // where in the export record; empty: the whole record
  SqlType type = SqlType::text;
};

struct Table {
  std::string name;  // the export kind: events, searches, plays, …
  bool derived = false;
  std::vector<Column> columns;  // after server_id (event tables) or server_id, row_key
  // Derived tables: the fields whose values, joined by ' ', are the row's natural id.
  std::vector<std::vector<std::string>> key;
  // The CSV column of each column, for messages and tests (`media.title`).
  std::string csv_name(const Column& column) const;
};

// events, then a table per event export kind (timeline … resources), then the derived
// plays, runs, queue_outcomes, clients, media.
const std::vector<Table>& tables();
// Throws std::invalid_argument for a name that is not one of them.
const Table& table_named(std::string_view name);
// The table of the events of a store kind (capture::Kind); null for kinds without one.
const Table* table_of_kind(std::uint8_t kind);

// `"a", "b", …`: the table's columns in COPY order, server_id (and row_key) first.
std::string column_list(const Table& table);

// Every statement that creates the schema of kSchemaVersion: idempotent (IF NOT EXISTS
// throughout), so it may run again on a database that has it.
std::string schema_sql();
// ALTER TABLE … ADD COLUMN for each column the database lacks, given the ones it has as
// "table.column": how a table made by an earlier plextap gets the fields added since.
std::string missing_columns_sql(const std::set<std::string>& existing);

// `"name"` with inner quotes doubled.
std::string identifier(std::string_view name);

}  // namespace plextap::sink
