// Query-string decoding for request targets (application/x-www-form-urlencoded rules).
#include "capture/query.hpp"

#include <cctype>

namespace plextap::capture {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strips "scheme://authority" from an absolute-form target.
std::string_view origin_form(std::string_view target) {
  if (target.empty() || target.front() == '/') return target;
  auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return target;
  auto after = target.substr(scheme_end + 3);
  auto path_start = after.find_first_of("/?#");
  if (path_start == std::string_view::npos) return "/";
  return after.substr(path_start);
}

}  // namespace

std::string_view path_of(std::string_view target) {
  auto origin = origin_form(target);
  auto path = origin.substr(0, origin.find_first_of("?#"));
  // "http://host?q" has an empty path, which means "/".
  if (path.empty() && origin.size() != target.size()) return "/";
  return path;
}

std::string_view query_of(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  auto query = target.substr(q + 1);
  return query.substr(0, query.find('#'));
}

std::string decode_component(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<Param> decode_query(std::string_view target) {
  std::vector<Param> params;
  auto query = query_of(target);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (piece.empty()) continue;
    auto eq = piece.find('=');
    if (eq == std::string_view::npos) {
      params.push_back({decode_component(piece), {}});
    } else {
      params.push_back(
          {decode_component(piece.substr(0, eq)), decode_component(piece.substr(eq + 1))});
    }
  }
  return params;
}

const std::string* find_param(std::span<const Param> params, std::string_view name) {
  for (const auto& p : params)
    if (p.name == name) return &p.value;
  return nullptr;
}

std::string encode_component(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

}  // namespace plextap::capture
