#include "replay/recorded_head.hpp"

#include <algorithm>
#include <boost/beast/http/status.hpp>
#include <vector>

#include "capture/text.hpp"
#include "net/hop_by_hop.hpp"

namespace plextap::replay {
namespace {

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Fields the session writes itself (framing, connection management), hop-by-hop ones
// that belonged to the recorded connection, and the replay's own markers; Set-Cookie was
// redacted when recorded and would only confuse a client.
bool session_owned(std::string_view name) {
  if (net::is_hop_by_hop(name)) return true;
  // Every X-Plextap-* field is the stand-in's own (Replayed, Truncated, Replay-Miss, and
  // any a later version adds): a recorded one would stand beside it a second time.
  if (capture::istarts_with(name, "X-Plextap-")) return true;
  for (std::string_view skip : {"Content-Length", "Set-Cookie"})
    if (capture::iequals(name, skip)) return true;
  return false;
}

// The names a recorded Connection field declared hop-by-hop (RFC 9110 section 7.6.1).
std::vector<std::string_view> nominated(const capture::Exchange& ex) {
  std::vector<std::string_view> out;
  for (const auto& [name, value] : ex.response_headers) {
    if (!capture::iequals(name, "Connection")) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto item = trim(rest.substr(0, comma));
      if (is_token(item)) out.push_back(item);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 19 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool is_field_value(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

std::string status_line(unsigned status) {
  auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  // Beast names codes it does not know "<unknown-status>": not a phrase to send.
  if (reason.starts_with("<") || !is_field_value({reason.data(), reason.size()})) reason = {};
  std::string line = "HTTP/1.1 " + std::to_string(status) + " ";
  line.append(reason.data(), reason.size());
  line += "\r\n";
  return line;
}

RecordedHead recorded_head(const capture::Exchange& ex, bool keep_encoding) {
  RecordedHead out;
  out.head = status_line(ex.status);
  const bool head_request = ex.method == "HEAD";
  const auto hop_by_hop = nominated(ex);
  for (const auto& [name, raw_value] : ex.response_headers) {
    if (!is_token(name) || !is_field_value(raw_value)) {
      ++out.invalid;
      continue;
    }
    const std::string_view value = trim(raw_value);
    if (head_request && capture::iequals(name, "Content-Length")) {
      // The length of the body a HEAD does not send: one, and only digits.
      if (!all_digits(value))
        ++out.invalid;
      else if (!out.has_length)
        out.head.append(name).append(": ").append(value).append("\r\n");
      out.has_length = out.has_length || all_digits(value);
      continue;
    }
    if (session_owned(name)) continue;
    if (std::any_of(hop_by_hop.begin(), hop_by_hop.end(),
                    [&](std::string_view h) { return capture::iequals(h, name); }))
      continue;
    if (!keep_encoding && capture::iequals(name, "Content-Encoding")) continue;
    out.head.append(name).append(": ").append(value).append("\r\n");
  }
  return out;
}

}  // namespace plextap::replay
