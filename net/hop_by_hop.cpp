#include "net/hop_by_hop.hpp"

#include <algorithm>

namespace plextap::net {

bool is_hop_by_hop(std::string_view name) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return std::any_of(kHopByHop.begin(), kHopByHop.end(), [&](std::string_view hop) {
    return hop.size() == name.size() && std::equal(hop.begin(), hop.end(), name.begin(),
                                                   [&](char h, char n) { return h == lower(n); });
  });
}

}  // namespace plextap::net
