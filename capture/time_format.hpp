// Timestamps as plextap writes them everywhere: RFC 3339, UTC, milliseconds.
#pragma once

#include <cstdint>
#include <string>

namespace plextap::capture {

// 1732449600123 -> "2024-11-24T12:00:00.123Z"
std::string rfc3339_ms(std::int64_t ms_since_epoch);

}  // namespace plextap::capture
