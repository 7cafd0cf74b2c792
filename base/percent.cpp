#include "base/percent.hpp"

namespace plextap::base {

std::string percent_decode(std::string_view s, Plus plus) {
  // Runs without an escape are copied whole: most names and values have none.
  std::string out;
  out.reserve(s.size());
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool space = s[i] == '+' && plus == Plus::space;
    if (!space && !(s[i] == '%' && is_percent_escape(s, i))) continue;
    out.append(s, run, i - run);
    if (space) {
      out.push_back(' ');
    } else {
      out.push_back(percent_escaped_byte(s, i));
      i += 2;
    }
    run = i + 1;
  }
  out.append(s, run);
  return out;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

}  // namespace plextap::base
