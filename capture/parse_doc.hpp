// Internal to the parse_*.cpp files: one read-only view over an XML or a JSON
// MediaContainer, and lenient value conversions, so that each kind's parser is written once
// and both formats give the same fields by construction.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <pugixml.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/json_writer.hpp"
#include "capture/query.hpp"

namespace plextap::capture {
// Every parser writes its fields with the shared JSON writer.
using base::JsonWriter;
}  // namespace plextap::capture

namespace plextap::capture::detail {

// One attribute (XML) or member (JSON) or query parameter. PMS types JSON values
// inconsistently (ids as numbers or strings, flags as booleans, numbers or "1"), so readers
// below accept every encoding. Empty strings count as absent in every source.
struct Scalar {
  enum class Type : std::uint8_t { absent, string, integer, real, boolean };
  Type type = Type::absent;
  std::string_view text;
  std::int64_t integer = 0;
  double real = 0;
  bool boolean = false;

  bool present() const { return type != Type::absent; }
};

Scalar text_scalar(std::string_view text);  // absent when empty
Scalar param(std::span<const Param> params, std::string_view name);
Scalar first_param(std::span<const Param> params, std::initializer_list<std::string_view> names);

std::optional<std::int64_t> to_int(const Scalar& v);  // 7, 7.0, "7", "7.0", true
std::optional<double> to_double(const Scalar& v);     // also "0.52000"
std::optional<bool> to_bool(const Scalar& v);         // true, 1, "1", "true"
std::string to_text(const Scalar& v);                 // numbers in their shortest form

// Writers for `"key": value`; each writes null when the value is absent or unusable.
void put_string(JsonWriter& out, std::string_view key, const Scalar& v);
void put_number(JsonWriter& out, std::string_view key, const Scalar& v);  // int if integral
void put_bool(JsonWriter& out, std::string_view key, const Scalar& v);
void put_id(JsonWriter& out, std::string_view key,
            const Scalar& v);  // number if integral, else string
void put_null(JsonWriter& out, std::string_view key);

// An element of the answer: an XML element, or a JSON object. Children are found by XML
// element name or by the JSON key holding them (an array of objects, or one object); the
// caller lists both spellings (e.g. {"Video", "Track", "Metadata"}). Views into a Document.
class Node {
 public:
  Node() = default;
  explicit Node(pugi::xml_node xml) : xml_(xml), format_(Format::xml) {}
  explicit Node(simdjson::dom::object json) : json_(json), format_(Format::json) {}

  explicit operator bool() const { return format_ != Format::none; }
  Scalar get(const char* name) const;
  std::vector<Node> children(std::initializer_list<const char*> names) const;
  Node first_child(std::initializer_list<const char*> names) const;

 private:
  enum class Format : std::uint8_t { none, xml, json };
  pugi::xml_node xml_;
  simdjson::dom::object json_;
  Format format_ = Format::none;
};

// Element names of library items in either format (JSON uses Metadata for every type, but
// keeps tag rows of search hubs under Directory).
inline constexpr std::initializer_list<const char*> kItemNames = {"Metadata",  "Video", "Track",
                                                                  "Directory", "Photo", "Playlist"};

// A parsed response body. container() is null when the body is blank (not an error) or
// could not be read (error() says why).
class Document {
 public:
  Document(unsigned status, std::string_view content_type, std::string_view body);
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  const Node& container() const { return container_; }
  const std::string& error() const { return error_; }

 private:
  void parse_xml(std::string_view body);
  void parse_json(std::string_view body);

  pugi::xml_document xml_;
  simdjson::dom::parser json_;
  Node container_;
  std::string error_;
};

// What the kind parsers know of the request.
struct Request {
  std::string_view op;
  std::string_view path;
  std::span<const Param> params;
  std::string_view client_session;
};

// Each writes its kind's fields and returns the rating key the call names ("" if none).
std::string parse_timeline(const Request& req, const Node& container, JsonWriter& out);
std::string parse_playqueue(const Request& req, const Node& container, JsonWriter& out);
std::string parse_decision(const Request& req, const Node& container, JsonWriter& out);
std::string parse_transcode(const Request& req, JsonWriter& out);
void parse_search(const Request& req, const Node& container, JsonWriter& out);
// The request fields decision and transcode share (same query on decision and start).
void put_playback_request(const Request& req, JsonWriter& out);

}  // namespace plextap::capture::detail
