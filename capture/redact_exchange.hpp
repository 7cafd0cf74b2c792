// Redaction of a whole recorded exchange, the one step every stored exchange passes
// through (build_record, on the store writer's thread) before it is encoded: what the
// store, the exports (HAR included) and `replay serve` see is what this leaves.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "capture/body_decode.hpp"
#include "capture/exchange.hpp"

namespace plextap::capture {

// Redacts `ex` in place:
// - the target, and every header value but the secret headers', by the parameter rule
//   (redact_target): Location, Content-Location, Referer, Origin, Link, ... alike;
// - secret headers (is_secret_header) not already "REDACTED[:<token_fp>]" become
//   "REDACTED";
// - both bodies, after undoing their Content-Encoding, by redact_body. A body with nothing
//   to redact keeps its recorded bytes (compressed or not). A body that had tokens is
//   stored decoded and redacted, without its Content-Encoding header and with its
//   Content-Length (if any) set to the stored size: replay serves it as identity, every
//   other byte as the server sent it. A body that cannot be read whole (an unknown
//   coding, or more than `max_decoded` bytes once decoded) keeps only what could be read
//   and checked, flagged truncated.
// Returns the response body decoded (and redacted), for the parsers: `ok` false when its
// coding could not be undone, as decode_body says.
Decoded redact_exchange(Exchange& ex, std::size_t max_decoded);

// Decoded bytes of a body that redaction and the parsers read at most.
inline constexpr std::size_t kMaxCheckedBody = std::size_t{8} << 20;

// An exchange as stored, for its readers (HAR export, replay serve): decode_exchange, and
// for a record written before whole exchanges were redacted (an older version kept bodies
// and most headers as sent), redact_exchange on top, so no token it holds gets out.
std::optional<Exchange> read_stored_exchange(std::string_view bytes);

}  // namespace plextap::capture
