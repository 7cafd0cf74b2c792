// CRC-32C (Castagnoli) of stored records. LMDB keeps no checksum of its pages, so each
// record carries its own: a damaged page then reads as a damaged record instead of as
// different data. CRC-32C because x86-64 computes it in hardware (SSE 4.2): about 0.1 µs
// for a typical 1.3 KB event, small beside what writing or exporting it costs.
#pragma once

#include <cstdint>
#include <string_view>

namespace plextap::store {

// The CRC-32C of `bytes` continuing from `crc` (0 to start), as in RFC 3720.
std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0);

}  // namespace plextap::store
