#include "replay/match.hpp"

#include <algorithm>

#include "capture/query.hpp"
#include "capture/text.hpp"

namespace plextap::replay {
namespace {

std::vector<capture::Param> matched_params(std::string_view target, const MatchRules& rules) {
  auto params = capture::decode_query(target);
  std::erase_if(params, [&](const capture::Param& p) { return is_ignored_param(p.name, rules); });
  std::sort(params.begin(), params.end(), [](const capture::Param& a, const capture::Param& b) {
    return a.name != b.name ? a.name < b.name : a.value < b.value;
  });
  return params;
}

}  // namespace

bool is_ignored_param(std::string_view name, const MatchRules& rules) {
  if (capture::istarts_with(name, "X-Plex-") || name == "time" || name == "playbackTime" ||
      name == "_")
    return true;
  return std::find(rules.ignored_params.begin(), rules.ignored_params.end(), name) !=
         rules.ignored_params.end();
}

std::string match_key(std::string_view method, std::string_view target, const MatchRules& rules) {
  // '\0' cannot occur in a method or a raw path, and it separates decoded names and
  // values unambiguously (a decoded value may contain '&' or '=').
  std::string key;
  key.reserve(target.size() + method.size() + 2);
  key.append(method).push_back('\0');
  key.append(capture::path_of(target));
  for (const auto& p : matched_params(target, rules)) {
    key.push_back('\0');
    key.append(p.name).push_back('\0');
    key.append(p.value);
  }
  return key;
}

std::string describe_key(std::string_view method, std::string_view target,
                         const MatchRules& rules) {
  std::string out(method);
  out += ' ';
  out += capture::path_of(target);
  auto params = matched_params(target, rules);
  if (params.empty()) return out;
  for (std::size_t i = 0; i < params.size(); ++i)
    out += (i ? "&" : "?") + params[i].name + "=" + params[i].value;
  return out;
}

}  // namespace plextap::replay
