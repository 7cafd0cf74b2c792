// Percent-encoding (RFC 3986) and decoding: the one implementation behind query parsing,
// redaction's decoding rounds and token substitution.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace plextap::base {

// The value of a hex digit, either case; -1 for any other character.
constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Whether s[i] begins an escape: '%' and two hex digits.
constexpr bool is_percent_escape(std::string_view s, std::size_t i) {
  return s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0;
}

// The byte an escape at s[i] stands for (is_percent_escape(s, i) must hold).
constexpr char percent_escaped_byte(std::string_view s, std::size_t i) {
  return static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
}

enum class Plus { literal, space };

// Decodes %XX escapes; with Plus::space also '+' as a space (form encoding). A '%' not
// followed by two hex digits is kept verbatim, so nothing a client sent is lost.
std::string percent_decode(std::string_view s, Plus plus);

// Percent-encodes every byte but the unreserved ones (letters, digits, -._~), with upper-
// case hex digits.
std::string percent_encode(std::string_view s);

}  // namespace plextap::base
