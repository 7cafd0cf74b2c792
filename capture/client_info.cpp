// Client identity from headers and query parameters.
#include "capture/client_info.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "capture/redact.hpp"
#include "capture/text.hpp"

namespace plextap::capture {
namespace {

struct Field {
  std::string_view name;
  std::string ClientInfo::*member;
};

const std::array<Field, 10> kFields{{
    {"X-Plex-Client-Identifier", &ClientInfo::id},
    {"X-Plex-Product", &ClientInfo::product},
    {"X-Plex-Version", &ClientInfo::version},
    {"X-Plex-Platform", &ClientInfo::platform},
    {"X-Plex-Platform-Version", &ClientInfo::platform_version},
    {"X-Plex-Device", &ClientInfo::device},
    {"X-Plex-Device-Name", &ClientInfo::device_name},
    {"X-Plex-Device-Vendor", &ClientInfo::device_vendor},
    {"X-Plex-Model", &ClientInfo::model},
    {"X-Plex-Session-Identifier", &ClientInfo::session},
}};

constexpr std::string_view kToken = "X-Plex-Token";

std::optional<std::string_view> lookup(std::span<const Header> headers,
                                       std::span<const Param> params, std::string_view name) {
  for (const auto& h : headers)
    if (!h.value.empty() && iequals(h.name, name)) return h.value;
  for (const auto& p : params)
    if (!p.value.empty() && iequals(p.name, name)) return std::string_view(p.value);
  return std::nullopt;
}

}  // namespace

ClientInfo client_info(std::span<const Header> headers, std::span<const Param> params) {
  ClientInfo info;
  for (const auto& field : kFields)
    if (auto value = lookup(headers, params, field.name)) info.*field.member = *value;
  return info;
}

std::optional<std::string> find_token(std::span<const Header> headers,
                                      std::span<const Param> params) {
  if (auto value = lookup(headers, params, kToken)) return std::string(*value);
  return std::nullopt;
}

void strip_token(std::vector<Param>& params) {
  std::erase_if(params, [](const Param& p) { return is_token_name(p.name); });
  // Decoded values may hold a token at any depth, its name spelled in any encoding.
  for (auto& p : params) p.value = redact_target(p.value);
}

}  // namespace plextap::capture
