// Timestamps as plextap writes them everywhere: RFC 3339, UTC, milliseconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace plextap::capture {

// 1732449600123 -> "2024-11-24T12:00:00.123Z"
std::string rfc3339_ms(std::int64_t ms_since_epoch);

// "2026-11-01T00:00:00Z" (fraction and a "+01:00" offset allowed) or "2026-11-01" (UTC
// midnight) -> milliseconds since epoch; null when the text is neither.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

}  // namespace plextap::capture
