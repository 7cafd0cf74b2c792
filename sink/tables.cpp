#include "sink/tables.hpp"

#include <array>
#include <set>
#include <stdexcept>

#include "analytics/export.hpp"
#include "analytics/schema.hpp"

namespace plextap::sink {
namespace {

using analytics::Field;

SqlType type_of(const Field& f) {
  if (f.free_form || (f.types & (analytics::kObject | analytics::kArray))) return SqlType::jsonb;
  if (f.time) return SqlType::timestamptz;
  switch (f.types) {
    case analytics::kInteger:
      return SqlType::bigint;
    case analytics::kNumber:
    case analytics::kNumber | analytics::kInteger:
      return SqlType::float8;
    case analytics::kBoolean:
      return SqlType::boolean;
    default:
      return SqlType::text;
  }
}

// The schema's fields as columns, objects flattened as CSV flattens them.
void add_columns(const std::vector<Field>& fields, std::vector<std::string>& path,
                 std::vector<Column>& out) {
  for (const Field& f : fields) {
    path.push_back(f.name);
    if ((f.types & analytics::kObject) && !f.free_form && !f.fields.empty()) {
      add_columns(f.fields, path, out);
    } else {
      std::string name;
      for (const auto& part : path) name += (name.empty() ? "" : "_") + part;
      out.push_back({std::move(name), path, type_of(f)});
    }
    path.pop_back();
  }
}

// Where '_' for '.' would name two columns alike (decisions' media_index and media.index),
// the nested one keeps its dot.
std::vector<Column> columns_of(std::string_view kind) {
  std::vector<Column> out;
  std::vector<std::string> path;
  add_columns(analytics::schema_of(kind).fields, path, out);
  for (Column& c : out)
    for (const Column& other : out)
      if (&c != &other && c.name == other.name && c.path.size() > other.path.size()) {
        c.name.clear();
        for (const auto& part : c.path) c.name += (c.name.empty() ? "" : ".") + part;
      }
  return out;
}

// An event's id is a string in exports (JSON numbers lose digits past 2^53); in SQL a bigint.
Table event_kind_table(const std::string& kind) {
  Table t{kind, false, columns_of(kind), {}};
  t.columns.front().type = SqlType::bigint;
  return t;
}

// `events` holds the fields every event has, typed, and the whole record as jsonb.
Table events_table() {
  const std::vector<Column> all = columns_of("events");
  Table t{"events", false, {}, {}};
  for (std::string_view name : {"id", "ts", "kind", "op", "source", "client_id", "user_token_fp",
                                "user_account_id", "user_name", "rating_key", "status",
                                "latency_ms"})
    for (const Column& c : all)
      if (c.name == name) t.columns.push_back(c);
  t.columns.front().type = SqlType::bigint;
  t.columns.push_back({"record", {}, SqlType::jsonb});
  return t;
}

Table derived_table(const std::string& kind, std::vector<std::vector<std::string>> key) {
  return {kind, true, columns_of(kind), std::move(key)};
}

std::vector<Table> build_tables() {
  std::vector<Table> all{events_table()};
  for (const auto& kind : analytics::event_export_names())
    if (kind != "events" && kind != "other") all.push_back(event_kind_table(kind));
  // A client has one play at a time; a run's id and a client's queue id name them.
  all.push_back(derived_table("plays", {{"client_id"}, {"started_at"}}));
  all.push_back(derived_table("runs", {{"run_id"}}));
  all.push_back(derived_table("queue_outcomes", {{"client_id"}, {"play_queue_id"}}));
  all.push_back(derived_table("clients", {{"client_id"}}));
  all.push_back(derived_table("media", {{"rating_key"}}));
  for (const Table& t : all)
    for (std::size_t i = 0; i < t.columns.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (t.columns[i].name == t.columns[j].name)
          throw std::logic_error("sink table " + t.name + ": two columns named " +
                                 t.columns[i].name);
  return all;
}

// The indexes the README's questions use: time ranges everywhere, plays by show and user.
// Each costs every insert its share, so no more: a kind's events by time are its table's.
struct Index {
  std::string_view table;
  std::vector<std::string_view> columns;
};

std::vector<Index> indexes() {
  std::vector<Index> out{{"events", {"server_id", "ts"}},
                         {"plays", {"server_id", "started_at"}},
                         {"plays", {"server_id", "media_grandparent_title"}},
                         {"plays", {"server_id", "user_name"}},
                         {"runs", {"server_id", "started_at"}},
                         {"queue_outcomes", {"server_id", "created_at"}}};
  for (const Table& t : tables())
    if (!t.derived && t.name != "events") out.push_back({t.name, {"server_id", "ts"}});
  return out;
}

}  // namespace

std::string_view sql_name(SqlType type) {
  static constexpr std::array<std::string_view, 6> names{
      "text", "bigint", "double precision", "boolean", "timestamptz", "jsonb"};
  return names[static_cast<std::size_t>(type)];
}

std::string Table::csv_name(const Column& column) const {
  std::string name;
  for (const auto& part : column.path) name += (name.empty() ? "" : ".") + part;
  return name;
}

const std::vector<Table>& tables() {
  static const std::vector<Table> all = build_tables();
  return all;
}

const Table& table_named(std::string_view name) {
  for (const Table& t : tables())
    if (t.name == name) return t;
  throw std::invalid_argument("no sink table " + std::string(name));
}

const Table* table_of_kind(std::uint8_t kind) {
  static const std::array<const Table*, 256> by_kind = [] {
    std::array<const Table*, 256> out{};
    for (const Table& t : tables())
      if (!t.derived && t.name != "events")
        for (std::uint8_t k : analytics::kinds_of_export(t.name)) out[k] = &t;
    return out;
  }();
  return by_kind[kind];
}

std::string identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + '"';
}

std::string column_list(const Table& table) {
  std::string out = table.derived ? "server_id, row_key" : "server_id";
  for (const Column& c : table.columns) out += ", " + identifier(c.name);
  return out;
}

std::string schema_sql() {
  std::string sql =
      "CREATE TABLE IF NOT EXISTS sink_schema (\n"
      "  version integer PRIMARY KEY,\n"
      "  applied_at timestamptz NOT NULL DEFAULT now()\n);\n"
      "CREATE TABLE IF NOT EXISTS sink_progress (\n"
      "  server_id text PRIMARY KEY,\n"
      "  last_id bigint NOT NULL,\n"
      "  events bigint NOT NULL DEFAULT 0,\n"
      "  updated_at timestamptz NOT NULL DEFAULT now()\n);\n";
  // The keys compare byte by byte (COLLATE "C"): ids have no language, and every insert
  // compares them in the primary key's index, where a locale's collation costs the most.
  for (const Table& t : tables()) {
    sql += "CREATE TABLE IF NOT EXISTS " + identifier(t.name) +
           " (\n  server_id text COLLATE \"C\" NOT NULL,\n";
    if (t.derived) sql += "  row_key text COLLATE \"C\" NOT NULL,\n";
    for (const Column& c : t.columns)
      sql += "  " + identifier(c.name) + " " + std::string(sql_name(c.type)) +
             (c.name == "id" && !t.derived ? " NOT NULL" : "") + ",\n";
    sql += "  PRIMARY KEY (server_id, " + std::string(t.derived ? "row_key" : "id") + ")\n);\n";
  }
  for (const Index& i : indexes()) {
    std::string name(i.table), columns;
    for (auto c : i.columns) {
      name.append("_").append(c);
      if (!columns.empty()) columns += ", ";
      columns += identifier(c);
    }
    sql += "CREATE INDEX IF NOT EXISTS " + identifier(name + "_idx") + " ON " + identifier(i.table) +
           " (" + columns + ");\n";
  }
  sql += "INSERT INTO sink_schema (version) VALUES (" + std::to_string(kSchemaVersion) +
         ") ON CONFLICT DO NOTHING;\n";
  return sql;
}

std::string missing_columns_sql(const std::set<std::string>& existing) {
  std::string sql;
  for (const Table& t : tables())
    for (const Column& c : t.columns)
      if (!existing.count(t.name + "." + c.name))
        sql += "ALTER TABLE " + identifier(t.name) + " ADD COLUMN IF NOT EXISTS " + identifier(c.name) +
               " " + std::string(sql_name(c.type)) + ";\n";
  return sql;
}

}  // namespace plextap::sink
