// How far apart two names are, for "did you mean …?" in the messages that refuse a name
// (a config key, an export column).
#pragma once

#include <cstddef>
#include <string_view>

namespace plextap::base {

// Edits (insertions, deletions, substitutions) that turn `a` into `b` (Levenshtein).
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace plextap::base
