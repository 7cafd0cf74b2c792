// ASCII case-insensitive comparisons: HTTP header names and Plex parameter names are
// matched in any letter case.
#pragma once

#include <algorithm>
#include <string_view>

namespace plextap::capture {

// ASCII only, and inline: std::tolower is a call into the C library per character and
// consults the locale, which made case-insensitive scans of every tapped request's target
// and headers show up in profiles of the I/O threads.
inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool iequal_char(char a, char b) {
  return ascii_lower(a) == ascii_lower(b);
}

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), iequal_char);
}

inline bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

inline bool icontains(std::string_view s, std::string_view needle) {
  return std::search(s.begin(), s.end(), needle.begin(), needle.end(), iequal_char) != s.end();
}

}  // namespace plextap::capture
