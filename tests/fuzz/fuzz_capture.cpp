// libFuzzer target over the capture parsing layer: classify, query decoding, client info,
// body decoding and the event-field parsers, fed arbitrary bytes. Beyond "no crash, no
// sanitizer report" it checks that the produced event fields are always valid JSON, and
// that redaction leaves no token behind: no reading of a redacted target or body,
// decoded any number of times, holds an X-Plex-Token value but the placeholder, and
// redacting a redacted target again changes nothing.
//
// Input layout: byte 0 picks method, Content-Type and status; byte 1 picks Content-Encoding
// and the kind used when the target is not a recorded route; then the request target up to
// the first '\n'; the rest is the response body.
#include <simdjson.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "base/json_writer.hpp"
#include "capture/body_decode.hpp"
#include "capture/classify.hpp"
#include "capture/client_info.hpp"
#include "capture/parse.hpp"
#include "capture/query.hpp"
#include "capture/redact.hpp"
#include "capture/text.hpp"

namespace {

using namespace plextap::capture;

constexpr std::array<std::string_view, 5> kMethods{"GET", "PUT", "POST", "DELETE", "HEAD"};
constexpr std::array<std::string_view, 5> kContentTypes{
    "", "application/json", "text/xml;charset=utf-8", "text/html", "application/octet-stream"};
constexpr std::array<unsigned, 3> kStatuses{200, 401, 204};
constexpr std::array<std::string_view, 5> kEncodings{"", "gzip", "deflate", "identity",
                                                     "x-gzip, deflate"};
constexpr std::array<Route, 10> kRoutes{{{Kind::timeline, {}},
                                         {Kind::scrobble, {}},
                                         {Kind::unscrobble, {}},
                                         {Kind::rate, {}},
                                         {Kind::playqueue, "create"},
                                         {Kind::playqueue, "get"},
                                         {Kind::decision, {}},
                                         {Kind::transcode, "start"},
                                         {Kind::search, {}},
                                         {Kind::other, {}}}};

void require_valid_json(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json).get(root) != simdjson::SUCCESS) std::abort();
}

bool ends_value(char c) {
  return std::string_view("&;#\"'<>").find(c) != std::string_view::npos ||
         static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
}

// Every X-Plex-Token parameter of `text` (name in any letter case, '+' or blanks before
// its '=', blanks after it) has the placeholder or nothing as its value.
void require_no_token_value(std::string_view text) {
  constexpr std::string_view kName = "x-plex-token";
  for (std::size_t at = 0; at + kName.size() <= text.size(); ++at) {
    if (!istarts_with(text.substr(at), kName)) continue;
    std::size_t i = at + kName.size();
    while (i < text.size() && (text[i] == '+' || text[i] == ' ' || text[i] == '\t')) ++i;
    if (i >= text.size() || text[i] != '=') continue;
    ++i;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::size_t begin = i;
    while (i < text.size() && !ends_value(text[i])) ++i;
    auto value = text.substr(begin, i - begin);
    if (!value.empty() && value != kRedacted) std::abort();
  }
}

void require_redacted(const std::string& redacted) {
  std::string level = redacted;
  for (int depth = 0; depth <= kMaxDecodeDepth + 4; ++depth) {
    require_no_token_value(level);
    std::string next = decode_component(level);
    if (next == level) break;
    level.swap(next);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t a = data[0];
  const std::uint8_t b = data[1];
  std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  auto newline = rest.find('\n');
  std::string_view target = rest.substr(0, newline);
  std::string_view raw_body =
      newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);

  std::string_view method = kMethods[a % kMethods.size()];
  std::string_view content_type = kContentTypes[(a / 5) % kContentTypes.size()];
  unsigned status = kStatuses[(a / 25) % kStatuses.size()];
  std::string_view encoding = kEncodings[b % kEncodings.size()];

  auto route = classify(method, target);
  (void)path_of(target);
  auto params = decode_query(target);

  // Headers reuse slices of the target so header parsing sees fuzzed values too.
  const std::vector<Header> headers = {
      {"x-plex-client-identifier", target.substr(0, 8)},
      {"X-Plex-Token", target.substr(target.size() / 2)},
      {"X-PLEX-SESSION-IDENTIFIER", target.substr(target.size() / 3)},
  };
  ClientInfo client = client_info(headers, params);
  (void)find_token(headers, params);

  Decoded decoded = decode_body(encoding, raw_body, 1 << 20);
  if (decoded.body.size() > (1u << 20)) std::abort();

  // Unrecorded targets (most random ones) still drive a parser, chosen by byte 1.
  Route chosen = route ? *route : kRoutes[(b / 5) % kRoutes.size()];
  for (std::string_view body : {std::string_view(decoded.body), raw_body}) {
    std::string json;
    plextap::base::JsonWriter out(json);
    out.begin_object();
    ParseResult result = parse_fields(chosen, path_of(target), params, status, content_type, body,
                                      out, client.session);
    out.key("rating_key");
    out.string(result.rating_key);
    out.key("parse_error");
    out.string(result.parse_error);
    out.end_object();
    require_valid_json(json);
  }

  const std::string target_out = redact_target(target);
  require_redacted(target_out);
  if (redact_target(target_out) != target_out) std::abort();
  if (raw_body.size() <= 4096) {
    const std::string body_out = redact_body(raw_body).value_or(std::string(raw_body));
    require_redacted(body_out);
  }

  strip_token(params);
  for (const auto& p : params) {
    if (is_token_name(p.name)) std::abort();
    std::string json;
    plextap::base::JsonWriter out(json);
    out.begin_array();
    out.string(p.name);
    out.string(p.value);
    out.end_array();
    require_valid_json(json);
  }
  return 0;
}
