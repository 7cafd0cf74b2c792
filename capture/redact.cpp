#include "capture/redact.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "capture/text.hpp"

namespace plextap::capture {
namespace {

constexpr std::string_view kName = "x-plex-token";
// '=' as it appears plain, percent-encoded once, and encoded twice.
constexpr std::array<std::string_view, 3> kEquals{"=", "%3d", "%253d"};
// Where a value ends: the next parameter (in any encoding), a fragment or white space.
constexpr std::array<std::string_view, 6> kEnds{"&", "%26", "%2526", "#", " ", "\""};

std::size_t value_end(std::string_view s, std::size_t from) {
  for (std::size_t i = from; i < s.size(); ++i)
    for (auto end : kEnds)
      if (istarts_with(s.substr(i), end)) return i;
  return s.size();
}

}  // namespace

std::string redact_target(std::string_view target) {
  std::string out;
  std::size_t copied = 0;
  for (std::size_t i = 0; i + kName.size() <= target.size(); ++i) {
    if (!istarts_with(target.substr(i), kName)) continue;
    std::size_t after = i + kName.size();
    for (auto eq : kEquals) {
      if (!istarts_with(target.substr(after), eq)) continue;
      std::size_t begin = after + eq.size();
      std::size_t end = value_end(target, begin);
      out.append(target.substr(copied, begin - copied));
      if (end > begin) out.append(kRedacted);
      copied = end;
      i = end == 0 ? 0 : end - 1;
      break;
    }
  }
  if (copied == 0) return std::string(target);
  out.append(target.substr(copied));
  return out;
}

bool is_secret_header(std::string_view name) {
  for (auto secret :
       {"x-plex-token", "authorization", "proxy-authorization", "cookie", "set-cookie"})
    if (iequals(name, secret)) return true;
  return false;
}

}  // namespace plextap::capture
