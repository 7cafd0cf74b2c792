// A recorded HTTP exchange as stored next to its event (already redacted): what replay
// serves and HAR export writes. Encoded compactly; the encoding is versioned.
//
// Encoding, format 1: the byte 0x01, then in order: ts_ms (varint), latency_us (varint),
// status (varint), flags (varint: 1 request body truncated, 2 response body truncated, 4 the
// client came over TLS),
// then the strings remote_addr, method, target, request headers, request body, response
// headers, response body, each as varint length + bytes. Headers are "name: value\r\n"
// lines. Format 2 (written now): the byte 0x02, the CRC-32C of the rest (4 bytes, little
// endian), then the fields of format 1: LMDB does not notice a damaged page, this does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plextap::capture {

// Header fields in the order they came, names as sent.
using HeaderFields = std::vector<std::pair<std::string, std::string>>;

// The value of the first field named `name` (any case); empty when there is none.
std::string_view header_value(const HeaderFields& fields, std::string_view name);

struct Exchange {
  std::int64_t ts_ms = 0;
  std::uint64_t latency_us = 0;
  unsigned status = 0;
  bool request_truncated = false;
  bool response_truncated = false;
  bool tls = false;  // the client's connection to the proxy
  std::string remote_addr;
  std::string method;
  std::string target;
  HeaderFields request_headers;
  std::string request_body;
  HeaderFields response_headers;
  std::string response_body;
};

std::string encode_exchange(const Exchange& e);
// Null when the bytes are not an intact exchange of a known format. Reads only within
// `bytes`, whatever they hold.
std::optional<Exchange> decode_exchange(std::string_view bytes);
// Whether decode_exchange would succeed, without building the exchange (format 2: the
// checksum).
bool exchange_intact(std::string_view bytes);
// Whether the bytes were written before the writer redacted whole exchanges (format 1):
// what such a record holds is redacted again when it is read (read_stored_exchange).
bool exchange_predates_redaction(std::string_view bytes);

}  // namespace plextap::capture
