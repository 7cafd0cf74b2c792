// Query-string decoding for request targets (application/x-www-form-urlencoded rules).
#include "capture/query.hpp"

namespace plextap::capture {
namespace {

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

}  // namespace plextap::capture
