// Keeps Plex tokens out of everything plextap writes: logs, the store and exports.
#pragma once

#include <string>
#include <string_view>

namespace plextap::capture {

inline constexpr std::string_view kRedacted = "REDACTED";

// Replaces the value of every X-Plex-Token parameter in a request target, URL or header
// value (any letter case; also percent-encoded once or twice inside another parameter,
// as in /photo/:/transcode?url=...%3FX-Plex-Token%3D...) with "REDACTED".
std::string redact_target(std::string_view target);

// True for headers whose values are secrets: X-Plex-Token, Authorization,
// Proxy-Authorization, Cookie, Set-Cookie.
bool is_secret_header(std::string_view name);

}  // namespace plextap::capture
