// Escaping text for HTML and XML, the one escaper of every page and XML answer plextap
// writes itself (the report's HTML, the proxy's own error answers): `&`, `<`, `>`, `"` and
// `'` become entities, so a recorded string is always text, in content and in quoted
// attribute values alike.
#pragma once

#include <string>
#include <string_view>

namespace plextap::base {

void append_markup_escaped(std::string& out, std::string_view s);

inline std::string markup_escaped(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_markup_escaped(out, s);
  return out;
}

}  // namespace plextap::base
