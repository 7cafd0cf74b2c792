#include "sink/copy_rows.hpp"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstdint>

#include "base/time.hpp"

namespace plextap::sink {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// COPY text format: backslash escapes for the delimiter, line ends and itself; PostgreSQL
// text holds no NUL, so NULs are left out.
void append_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\0':
        break;
      default:
        out += c;
    }
  }
}

// jsonb refuses the escape \u0000 (its text type holds no NUL): it becomes U+FFFD. An
// escaped backslash before "u0000" is text, not an escape, hence the count.
void append_json(std::string& out, std::string_view json) {
  std::string clean;
  std::size_t at = 0;
  for (auto hit = json.find("\\u0000"); hit != std::string_view::npos;
       hit = json.find("\\u0000", hit + 1)) {
    std::size_t slashes = 0;
    while (hit > slashes && json[hit - slashes - 1] == '\\') ++slashes;
    if (slashes % 2) continue;
    clean.append(json.substr(at, hit - at));
    clean += "\\ufffd";
    at = hit + 6;
  }
  if (at == 0) return append_escaped(out, json);
  clean.append(json.substr(at));
  append_escaped(out, clean);
}

std::optional<element> find(element e, const std::vector<std::string>& path) {
  for (const auto& part : path) {
    if (!e.is_object()) return std::nullopt;
    if (e.get_object().at_key(part).get(e) != simdjson::SUCCESS) return std::nullopt;
  }
  if (e.is_null()) return std::nullopt;
  return e;
}

std::optional<std::int64_t> as_bigint(element e) {
  switch (e.type()) {
    case element_type::INT64:
      return e.get_int64().value();
    case element_type::UINT64:
      return std::nullopt;  // beyond bigint
    case element_type::DOUBLE: {
      const double d = e.get_double().value();
      if (d == std::floor(d) && std::fabs(d) < 9.2e18) return static_cast<std::int64_t>(d);
      return std::nullopt;
    }
    case element_type::STRING: {  // ids, which exports write as strings
      std::string_view s = e.get_string().value();
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return v;
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

// The value of `e` for a column of `type`, or false for NULL.
bool append_value(std::string& out, element e, SqlType type) {
  const auto kind = e.type();
  const bool number = kind == element_type::INT64 || kind == element_type::UINT64 ||
                      kind == element_type::DOUBLE;
  switch (type) {
    case SqlType::text:
      if (kind == element_type::STRING)
        append_escaped(out, e.get_string().value());
      else if (kind == element_type::OBJECT || kind == element_type::ARRAY)
        append_json(out, simdjson::minify(e));
      else
        out += simdjson::minify(e);
      return true;
    case SqlType::bigint:
      if (auto v = as_bigint(e)) {
        out += std::to_string(*v);
        return true;
      }
      return false;
    case SqlType::float8:
      if (!number) return false;
      out += simdjson::minify(e);
      return true;
    case SqlType::boolean:
      if (kind != element_type::BOOL) return false;
      out += e.get_bool().value() ? 't' : 'f';
      return true;
    case SqlType::timestamptz:
      if (kind != element_type::STRING || !base::parse_rfc3339_ms(e.get_string().value()))
        return false;
      append_escaped(out, e.get_string().value());
      return true;
    case SqlType::jsonb:
      append_json(out, simdjson::minify(e));
      return true;
  }
  return false;
}

std::string key_of(const Table& table, element doc) {
  std::string key;
  for (std::size_t i = 0; i < table.key.size(); ++i) {
    if (i) key += ' ';
    if (auto e = find(doc, table.key[i]))
      key += e->is_string() ? std::string(e->get_string().value()) : simdjson::minify(*e);
  }
  return key;
}

}  // namespace

std::string CopyRows::copy_sql(std::string_view target) const {
  return "COPY " + (target.empty() ? identifier(table_->name) : std::string(target)) + " (" +
         column_list(*table_) + ") FROM STDIN";
}

struct RowEncoder::Impl {
  simdjson::dom::parser parser;
};

RowEncoder::RowEncoder() : impl_(std::make_unique<Impl>()) {}
RowEncoder::~RowEncoder() = default;

bool RowEncoder::add(std::string_view json, std::initializer_list<CopyRows*> into) {
  element doc;
  if (impl_->parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS ||
      !doc.is_object())
    return false;
  for (CopyRows* rows : into) {
    std::string& out = rows->data_;
    const Table& table = *rows->table_;
    append_escaped(out, rows->server_id_);
    if (table.derived) {
      out += '\t';
      append_escaped(out, key_of(table, doc));
    }
    for (const Column& c : table.columns) {
      out += '\t';
      if (c.path.empty()) {
        append_json(out, json);
        continue;
      }
      auto e = find(doc, c.path);
      if (!e || !append_value(out, *e, c.type)) out += "\\N";
    }
    out += '\n';
    ++rows->rows_;
  }
  return true;
}

std::string RowEncoder::row_key(const Table& table, std::string_view json) {
  element doc;
  if (impl_->parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS ||
      !doc.is_object())
    return {};
  return key_of(table, doc);
}

}  // namespace plextap::sink
