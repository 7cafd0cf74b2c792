// Turns a captured exchange into the stored event record: the fields every event has
// (DESIGN section 5) plus the fields of its kind. A pure function, run on the writer's
// thread, so that the I/O threads never decompress, scan for tokens or parse. It redacts
// the exchange (redact_exchange) before anything else reads it.
#pragma once

#include <optional>
#include <string>

#include "capture/classify.hpp"
#include "capture/exchange.hpp"
#include "store/store.hpp"

namespace plextap::capture {

struct CapturedExchange {
  std::optional<Route> route;  // null: kind `other` (--record all)
  Exchange exchange;           // secret headers fingerprinted; the rest redacted by build_record
  std::string token_fp;        // empty when the request carried no token
  bool complete = true;        // false when either side broke off
};

// Record flags (store::Record::flags).
inline constexpr std::uint8_t kFlagParseError = 1;
inline constexpr std::uint8_t kFlagTruncated = 2;
inline constexpr std::uint8_t kFlagIncomplete = 4;

store::Record build_record(CapturedExchange captured);

}  // namespace plextap::capture
