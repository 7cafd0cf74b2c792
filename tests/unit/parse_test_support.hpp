// Helpers for the parser tests: load a fixture, run one call through classify, decode_query
// and parse_fields, and read the produced fields back with simdjson.
#pragma once

#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "base/json_writer.hpp"
#include "capture/classify.hpp"
#include "capture/parse.hpp"
#include "capture/query.hpp"

namespace plextap::capture::testing {

inline std::string fixture(std::string_view name) {
  std::ifstream in(std::string(PLEXTAP_FIXTURES_DIR) + "/" + std::string(name), std::ios::binary);
  EXPECT_TRUE(in) << "missing fixture " << name;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// JSON text read back by JSON pointer; a missing or mistyped value fails the test.
class JsonDoc {
 public:
  explicit JsonDoc(std::string json)
      : json_(std::move(json)), parser_(std::make_unique<simdjson::dom::parser>()) {
    auto err = parser_->parse(json_).get(root_);
    EXPECT_EQ(err, simdjson::SUCCESS) << "invalid JSON: " << json_;
  }

  const std::string& json() const { return json_; }
  simdjson::dom::element root() const { return root_; }

  bool has(std::string_view pointer) const {
    return root_.at_pointer(pointer).error() == simdjson::SUCCESS;
  }
  bool is_null(std::string_view pointer) const {
    simdjson::dom::element e;
    if (root_.at_pointer(pointer).get(e) != simdjson::SUCCESS) {
      ADD_FAILURE() << pointer << " missing in " << json_;
      return false;
    }
    return e.is_null();
  }
  std::string str(std::string_view pointer) const {
    std::string_view v;
    if (root_.at_pointer(pointer).get_string().get(v) != simdjson::SUCCESS) {
      ADD_FAILURE() << pointer << " is not a string in " << json_;
      return "<not a string>";
    }
    return std::string(v);
  }
  std::int64_t integer(std::string_view pointer) const {
    std::int64_t v;
    if (root_.at_pointer(pointer).get_int64().get(v) != simdjson::SUCCESS) {
      ADD_FAILURE() << pointer << " is not an integer in " << json_;
      return -999999;
    }
    return v;
  }
  double number(std::string_view pointer) const {
    double v;
    if (root_.at_pointer(pointer).get_double().get(v) != simdjson::SUCCESS) {
      ADD_FAILURE() << pointer << " is not a number in " << json_;
      return -999999;
    }
    return v;
  }
  bool flag(std::string_view pointer) const {
    bool v;
    if (root_.at_pointer(pointer).get_bool().get(v) != simdjson::SUCCESS) {
      ADD_FAILURE() << pointer << " is not a boolean in " << json_;
      return false;
    }
    return v;
  }
  std::size_t size(std::string_view pointer) const {
    simdjson::dom::array a;
    if (root_.at_pointer(pointer).get_array().get(a) != simdjson::SUCCESS) {
      ADD_FAILURE() << pointer << " is not an array in " << json_;
      return 0;
    }
    return a.size();
  }
  std::vector<std::string> keys(std::string_view pointer) const {
    std::vector<std::string> out;
    simdjson::dom::object o;
    if (root_.at_pointer(pointer).get_object().get(o) != simdjson::SUCCESS) {
      ADD_FAILURE() << pointer << " is not an object in " << json_;
      return out;
    }
    for (auto field : o) out.emplace_back(field.key);
    return out;
  }

 private:
  std::string json_;
  std::unique_ptr<simdjson::dom::parser> parser_;  // on the heap: root_ points into it
  simdjson::dom::element root_;
};

// The fields one call produced, with what the parser said of the call.
class Fields : public JsonDoc {
 public:
  Fields(std::string json, ParseResult result)
      : JsonDoc(std::move(json)), result_(std::move(result)) {}
  const std::string& rating_key() const { return result_.rating_key; }
  const std::string& parse_error() const { return result_.parse_error; }

 private:
  ParseResult result_;
};

// One exchange: `target` is the raw request target as a client sends it.
inline Fields parse_call(std::string_view method, std::string_view target, unsigned status,
                         std::string_view content_type, std::string_view body,
                         std::string_view client_session = {}) {
  auto route = classify(method, target);
  EXPECT_TRUE(route.has_value()) << method << " " << target << " is not recorded";
  std::string json;
  base::JsonWriter out(json);
  out.begin_object();
  ParseResult result;
  if (route)
    result = parse_fields(*route, path_of(target), decode_query(target), status, content_type, body,
                          out, client_session);
  out.end_object();
  return Fields(std::move(json), std::move(result));
}

}  // namespace plextap::capture::testing
