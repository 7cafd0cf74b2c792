// Reading XML (pugixml) and JSON (simdjson DOM) answers through one Node interface, and the
// lenient scalar conversions every kind parser uses.
#include "capture/parse_doc.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>

#include "capture/text.hpp"

namespace plextap::capture::detail {
namespace {

Scalar json_scalar(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  Scalar v;
  switch (e.type()) {
    case element_type::STRING:
      return text_scalar(e.get_string().value_unsafe());
    case element_type::INT64:
      v.type = Scalar::Type::integer;
      v.integer = e.get_int64().value_unsafe();
      return v;
    case element_type::UINT64: {
      // Only values above INT64_MAX land here; keep them as (inexact) numbers.
      v.type = Scalar::Type::real;
      v.real = static_cast<double>(e.get_uint64().value_unsafe());
      return v;
    }
    case element_type::DOUBLE:
      v.type = Scalar::Type::real;
      v.real = e.get_double().value_unsafe();
      return v;
    case element_type::BOOL:
      v.type = Scalar::Type::boolean;
      v.boolean = e.get_bool().value_unsafe();
      return v;
    default:
      return v;  // null, arrays and objects are not scalars
  }
}

template <typename T>
bool parse_whole(std::string_view s, T& out) {
  auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

std::optional<std::int64_t> integral(double d) {
  // 2^63 bounds the int64 range; anything integral inside it converts exactly.
  if (std::isfinite(d) && std::trunc(d) == d && d >= -9.2233720368547758e18 &&
      d < 9.2233720368547758e18)
    return static_cast<std::int64_t>(d);
  return std::nullopt;
}

std::string_view skip_blank(std::string_view s) {
  if (s.starts_with("\xEF\xBB\xBF")) s.remove_prefix(3);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return s;
}

}  // namespace

Scalar text_scalar(std::string_view text) {
  Scalar v;
  if (!text.empty()) {
    v.type = Scalar::Type::string;
    v.text = text;
  }
  return v;
}

Scalar param(std::span<const Param> params, std::string_view name) {
  const std::string* value = find_param(params, name);
  return value ? text_scalar(*value) : Scalar{};
}

Scalar first_param(std::span<const Param> params, std::initializer_list<std::string_view> names) {
  for (auto name : names)
    if (auto v = param(params, name); v.present()) return v;
  return {};
}

std::optional<std::int64_t> to_int(const Scalar& v) {
  switch (v.type) {
    case Scalar::Type::integer:
      return v.integer;
    case Scalar::Type::real:
      return integral(v.real);
    case Scalar::Type::boolean:
      return v.boolean ? 1 : 0;
    case Scalar::Type::string: {
      std::int64_t i;
      if (parse_whole(v.text, i)) return i;
      double d;
      if (parse_whole(v.text, d)) return integral(d);
      return std::nullopt;
    }
    case Scalar::Type::absent:
      break;
  }
  return std::nullopt;
}

std::optional<double> to_double(const Scalar& v) {
  switch (v.type) {
    case Scalar::Type::integer:
      return static_cast<double>(v.integer);
    case Scalar::Type::real:
      return v.real;
    case Scalar::Type::boolean:
      return v.boolean ? 1.0 : 0.0;
    case Scalar::Type::string: {
      double d;
      if (parse_whole(v.text, d) && std::isfinite(d)) return d;
      return std::nullopt;
    }
    case Scalar::Type::absent:
      break;
  }
  return std::nullopt;
}

std::optional<bool> to_bool(const Scalar& v) {
  switch (v.type) {
    case Scalar::Type::boolean:
      return v.boolean;
    case Scalar::Type::integer:
      return v.integer != 0;
    case Scalar::Type::real:
      return v.real != 0;
    case Scalar::Type::string:
      if (v.text == "1" || iequals(v.text, "true")) return true;
      if (v.text == "0" || iequals(v.text, "false")) return false;
      return std::nullopt;
    case Scalar::Type::absent:
      break;
  }
  return std::nullopt;
}

std::string to_text(const Scalar& v) {
  char buf[32];
  switch (v.type) {
    case Scalar::Type::string:
      return std::string(v.text);
    case Scalar::Type::integer:
      return std::string(buf, std::to_chars(buf, buf + 32, v.integer).ptr);
    case Scalar::Type::real:
      return std::string(buf, std::to_chars(buf, buf + 32, v.real).ptr);
    // As the XML form of the same answer spells it.
    case Scalar::Type::boolean:
      return v.boolean ? "1" : "0";
    case Scalar::Type::absent:
      break;
  }
  return {};
}

void put_string(JsonWriter& out, std::string_view key, const Scalar& v) {
  out.key(key);
  if (v.type == Scalar::Type::string)
    out.string(v.text);
  else if (v.present())
    out.string(to_text(v));
  else
    out.null();
}

void put_number(JsonWriter& out, std::string_view key, const Scalar& v) {
  out.key(key);
  if (auto i = to_int(v))
    out.int64(*i);
  else if (auto d = to_double(v))
    out.number(*d);
  else
    out.null();
}

void put_bool(JsonWriter& out, std::string_view key, const Scalar& v) {
  out.key(key);
  if (auto b = to_bool(v))
    out.boolean(*b);
  else
    out.null();
}

void put_id(JsonWriter& out, std::string_view key, const Scalar& v) {
  if (v.type != Scalar::Type::boolean && to_int(v)) return put_number(out, key, v);
  put_string(out, key, v);
}

void put_null(JsonWriter& out, std::string_view key) {
  out.key(key);
  out.null();
}

Scalar Node::get(const char* name) const {
  if (format_ == Format::xml) return text_scalar(xml_.attribute(name).value());
  if (format_ == Format::json) {
    simdjson::dom::element e;
    if (json_[name].get(e) == simdjson::SUCCESS) return json_scalar(e);
  }
  return {};
}

std::vector<Node> Node::children(std::initializer_list<const char*> names) const {
  std::vector<Node> out;
  auto wanted = [&](std::string_view name) {
    return std::any_of(names.begin(), names.end(), [&](const char* n) { return name == n; });
  };
  if (format_ == Format::xml) {
    for (pugi::xml_node c = xml_.first_child(); c; c = c.next_sibling())
      if (c.type() == pugi::node_element && wanted(c.name())) out.emplace_back(c);
  } else if (format_ == Format::json) {
    for (auto field : json_) {
      if (!wanted(field.key)) continue;
      simdjson::dom::object obj;
      simdjson::dom::array arr;
      if (field.value.get(obj) == simdjson::SUCCESS) {
        out.emplace_back(obj);
      } else if (field.value.get(arr) == simdjson::SUCCESS) {
        for (auto e : arr)
          if (e.get(obj) == simdjson::SUCCESS) out.emplace_back(obj);
      }
    }
  }
  return out;
}

Node Node::first_child(std::initializer_list<const char*> names) const {
  auto all = children(names);
  return all.empty() ? Node{} : all.front();
}

Document::Document(unsigned status, std::string_view content_type, std::string_view body) {
  std::string_view text = skip_blank(body);
  if (text.empty()) return;  // timeline and scrobble answers are often empty

  bool html = icontains(content_type, "html");
  if (icontains(content_type, "json"))
    parse_json(text);
  else if (icontains(content_type, "xml"))
    parse_xml(text);
  else if (text.front() == '<')
    parse_xml(text);
  else if (text.front() == '{' || text.front() == '[')
    parse_json(text);
  else
    error_ = "body is neither XML nor JSON";

  if (html && !error_.empty()) error_ = "HTML page, not a MediaContainer";
  if (!error_.empty() && (status < 200 || status > 299))
    error_ = "HTTP " + std::to_string(status) + ": " + error_;
}

void Document::parse_xml(std::string_view body) {
  auto res = xml_.load_buffer(body.data(), body.size(), pugi::parse_minimal | pugi::parse_escapes,
                              pugi::encoding_auto);
  if (!res) {
    error_ = std::string("XML: ") + res.description() + " at offset " + std::to_string(res.offset);
    return;
  }
  pugi::xml_node root = xml_.document_element();
  if (std::strcmp(root.name(), "MediaContainer") != 0) {
    error_ = "XML root is <" + std::string(root.name()).substr(0, 40) + ">, not MediaContainer";
    return;
  }
  container_ = Node(root);
}

void Document::parse_json(std::string_view body) {
  simdjson::dom::element root;
  if (auto err = json_.parse(body.data(), body.size()).get(root); err != simdjson::SUCCESS) {
    error_ = std::string("JSON: ") + simdjson::error_message(err);
    return;
  }
  simdjson::dom::object container;
  if (root["MediaContainer"].get(container) != simdjson::SUCCESS) {
    error_ = "JSON has no MediaContainer object";
    return;
  }
  container_ = Node(container);
}

}  // namespace plextap::capture::detail
