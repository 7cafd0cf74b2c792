// Timestamps as plextap writes and reads them everywhere: RFC 3339, UTC. One
// implementation, on the proleptic Gregorian calendar of <chrono> (no time zone, no
// locale, no gmtime/timegm).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace plextap::base {

// 1732449600123 -> "2024-11-24T12:00:00.123Z"
std::string rfc3339_ms(std::int64_t ms_since_epoch);

// 1732449600 -> "2024-11-24T12:00:00Z" (whole seconds, no fraction)
std::string rfc3339_seconds(std::int64_t seconds_since_epoch);

// "2026-11-01T00:00:00Z" (a fraction and a "+01:00" offset allowed; 't', 'z' and a space
// for 'T' accepted) or "2026-11-01" (UTC midnight) -> milliseconds since epoch; null when
// the text is neither, or names no real instant: a day the month does not have
// ("2026-02-30", "2026-04-31", "2025-02-29"), a month past 12, an hour past 23, a minute
// past 59, a second past 60 (a leap second reads as the next minute's first), an offset
// past 23:59.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

}  // namespace plextap::base
