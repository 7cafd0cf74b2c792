// How `replay serve` recognises a request it has seen: method, path and decoded query
// parameters, less the ones that differ between two runs of the same client story
// (DESIGN section 8). Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace plextap::replay {

struct MatchRules {
  // Query parameters left out of the match besides the built-in ones, exact names.
  std::vector<std::string> ignored_params;
};

// True for parameters never matched on: X-Plex-Token and every other X-Plex-* client
// parameter (any letter case; clients describe themselves with more than the ten the
// recorder reads), the volatile `time`, `playbackTime` (timeline positions) and `_` (a
// cache buster), and the rules' own.
bool is_ignored_param(std::string_view name, const MatchRules& rules);

// The key two requests share when replay should answer them alike: the method, the path
// as sent, and the remaining parameters decoded and sorted (their order never matters
// to the server). Requests for the same key are answered in recorded order.
std::string match_key(std::string_view method, std::string_view target, const MatchRules& rules);

// The key in words, for a 404 and the log: "GET /library/metadata/5?a=1&b=2", with the
// parameters matched on, decoded and sorted.
std::string describe_key(std::string_view method, std::string_view target, const MatchRules& rules);

}  // namespace plextap::replay
