// Splits a raw HTTP request target into its path and its decoded query parameters.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/percent.hpp"

namespace plextap::capture {

struct Param {
  std::string name;
  std::string value;
};

// The path of a request target: everything before '?' or '#'. An absolute-form target
// ("http://host:port/path?q", as sent to forward proxies) yields its path ("/path", or "/"
// when it has none). No decoding, no allocation.
std::string_view path_of(std::string_view target);

// The raw (still encoded) query string of a target: after the first '?', before '#'.
std::string_view query_of(std::string_view target);

// Decodes a query component: %XX escapes and '+' as space. A '%' not followed by two hex
// digits is kept verbatim, so nothing a client sent is lost.
inline std::string decode_component(std::string_view s) {
  return base::percent_decode(s, base::Plus::space);
}
// Percent-encodes every byte but the unreserved ones (RFC 3986: letters, digits, -._~).
inline std::string encode_component(std::string_view s) {
  return base::percent_encode(s);
}

// Every parameter of the target's query, in order, repeated names kept. "a" and "a=" both
// give an empty value; empty pieces ("&&") are skipped.
std::vector<Param> decode_query(std::string_view target);

// The value of the first parameter named exactly `name`, or null.
const std::string* find_param(std::span<const Param> params, std::string_view name);

}  // namespace plextap::capture
