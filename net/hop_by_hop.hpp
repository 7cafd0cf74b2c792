// The hop-by-hop header policy: fields that belong to one connection and never travel
// past it (RFC 9110 section 7.6.1, plus the legacy Proxy-Connection and the proxy
// authentication fields of RFC 9110 section 11.7). The proxy, replay serve and
// replay send drop them all; each writes its own framing and connection management.
#pragma once

#include <array>
#include <string_view>

namespace plextap::net {

// Lower case.
inline constexpr std::array<std::string_view, 9> kHopByHop = {
    "connection", "proxy-connection",   "keep-alive",         "te", "trailer", "transfer-encoding",
    "upgrade",    "proxy-authenticate", "proxy-authorization"};

// Whether `name` (any letter case) is in kHopByHop.
bool is_hop_by_hop(std::string_view name);

}  // namespace plextap::net
