// The fixed shape of every export kind: an ordered list of fields with their JSON types.
// CSV columns come from it alone (nested objects flattened to `a.b`, in this order), so a
// CSV header is known before the first row, is the same for an empty store, and never
// depends on which records happen to come first. `plextap export KIND --schema` prints it
// as a JSON Schema; a record field a schema lacks is a bug the schema test catches.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace plextap::analytics {

// The JSON types a field may hold, as bits (a field may hold more than one: ids the
// server types as numbers or strings are integer|string).
enum JsonType : std::uint8_t {
  kString = 1,
  kInteger = 2,
  kNumber = 4,  // any number, integral or not
  kBoolean = 8,
  kObject = 16,
  kArray = 32,
};

struct Field {
  std::string name;
  unsigned types = kString;
  bool nullable = true;
  bool optional = false;      // may be absent from a record (parse_error, truncated)
  bool free_form = false;     // an object of any keys (params): one JSON cell in CSV
  bool time = false;          // an RFC 3339 time string
  std::vector<Field> fields;  // an object's fields, in order (flattened to `name.field`)
  std::vector<Field> items;   // the fields of an array's objects; empty: not described
};

struct Schema {
  std::string kind;
  std::vector<Field> fields;

  // The CSV columns, in order: objects flattened to `a.b`; arrays and free-form objects
  // one column each.
  std::vector<std::string> columns() const;
};

// The field called `name` of `fields`; null when there is none.
const Field* find_field(const std::vector<Field>& fields, std::string_view name);

// The export kinds that have a schema, in the order `export --help` lists them.
const std::vector<std::string>& schema_kinds();
// Throws std::invalid_argument for a kind without one (har).
const Schema& schema_of(std::string_view kind);

// The schema as a JSON Schema (draft 2020-12) document; properties in column order.
std::string json_schema(const Schema& schema);

// The fields `--columns` names: CSV column names (`media.title`) or object fields (`media`:
// all its columns). Throws std::invalid_argument naming the first unknown name and the
// closest known one. Empty list: empty result, every field.
std::vector<std::string> select_columns(const Schema& schema, std::string_view comma_list);
// The CSV columns of a selection, in the order it names them (objects expanded in schema
// order); every column when it is empty.
std::vector<std::string> csv_columns(const Schema& schema, const std::vector<std::string>& names);

// What of a record `schema` does not describe: one line per field it lacks ("unknown
// field a.b") or whose value has a type it does not allow. Empty: the record fits.
std::vector<std::string> schema_misfits(const Schema& schema, std::string_view json);

}  // namespace plextap::analytics
