#include "capture/redact_exchange.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "capture/redact.hpp"
#include "capture/text.hpp"

namespace plextap::capture {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

bool is_identity(std::string_view coding) {
  while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t'))
    coding.remove_prefix(1);
  while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t'))
    coding.remove_suffix(1);
  return coding.empty() || iequals(coding, "identity");
}

// "REDACTED" or the recorder's "REDACTED:<16 hex>", and nothing more.
bool is_redacted(std::string_view value) {
  if (value == kRedacted) return true;
  if (value.size() != kRedacted.size() + 17 || !value.starts_with(kRedacted) ||
      value[kRedacted.size()] != ':')
    return false;
  return std::all_of(value.begin() + static_cast<std::ptrdiff_t>(kRedacted.size()) + 1, value.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

void redact_headers(Headers& headers) {
  for (auto& [name, value] : headers) {
    if (is_secret_header(name)) {
      // The recorder keeps a fingerprint ("REDACTED:<token_fp>"); anything else goes.
      if (!is_redacted(value)) value = kRedacted;
    } else {
      value = redact_target(value);
    }
  }
}

// The stored body is now `body`, in the clear. A Content-Length keeps describing a whole
// body; that of a truncated one stays the server's.
void store_plain(Headers& headers, std::string& stored, std::string body, bool truncated) {
  stored = std::move(body);
  std::erase_if(headers, [](const auto& h) { return iequals(h.first, "Content-Encoding"); });
  if (truncated) return;
  for (auto& [name, value] : headers)
    if (iequals(name, "Content-Length")) value = std::to_string(stored.size());
}

constexpr std::size_t kCutBodyKept = std::size_t{1} << 20;

Decoded redact_body_of(Headers& headers, std::string& body, bool& truncated,
                       std::size_t max_decoded) {
  const std::string_view coding = header_value(headers, "Content-Encoding");
  if (is_identity(coding)) {
    // Scanned in full, whatever its size: the recorder's cap already bounds it.
    if (auto redacted = redact_body(body))
      store_plain(headers, body, std::move(*redacted), truncated);
    return decode_body({}, body, max_decoded);
  }
  Decoded d = decode_body(coding, body, max_decoded);
  auto redacted = redact_body(d.body);
  // A corrupt or cut stream stops every decoder where it stopped this one, so what came
  // out is all anyone can decode; an unknown coding or the decoding cap leaves bytes unread.
  const bool read_all = !d.unsupported && !d.truncated;
  // The recorded bytes are kept as they are only if they hold no token as they are either:
  // a body that claims a coding it does not have, or plain bytes after the end of a gzip
  // stream, would otherwise reach the store unread.
  if (!redacted && read_all && !redact_body(body)) return d;
  if (redacted) d.body = std::move(*redacted);
  if (!read_all) {
    // What could not be read whole is kept only as far as the tap's own copy went (at
    // least kCutBodyKept): a small compressed body that inflates to megabytes must not
    // grow the store, or the memory of replay serve, by as much.
    truncated = true;
    const std::size_t keep = std::max(body.size(), kCutBodyKept);
    store_plain(headers, body, d.body.substr(0, std::min(keep, d.body.size())), truncated);
    return d;
  }
  store_plain(headers, body, d.body, truncated);
  return d;
}

}  // namespace

Decoded redact_exchange(Exchange& ex, std::size_t max_decoded) {
  ex.target = redact_target(ex.target);
  redact_headers(ex.request_headers);
  redact_headers(ex.response_headers);
  redact_body_of(ex.request_headers, ex.request_body, ex.request_truncated, max_decoded);
  return redact_body_of(ex.response_headers, ex.response_body, ex.response_truncated, max_decoded);
}

std::optional<Exchange> read_stored_exchange(std::string_view bytes) {
  auto ex = decode_exchange(bytes);
  if (ex && exchange_predates_redaction(bytes)) redact_exchange(*ex, kMaxCheckedBody);
  return ex;
}

}  // namespace plextap::capture
