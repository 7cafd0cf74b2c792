// A recorded HTTP exchange as stored next to its event (already redacted): what replay
// serves and HAR export writes. Encoded compactly; the encoding is versioned.
//
// Encoding, format 1: the byte 0x01, then in order: ts_ms (varint), latency_us (varint),
// status (varint), flags (varint: 1 request body truncated, 2 response body truncated, 4 the
// client came over TLS),
// then the strings remote_addr, method, target, request headers, request body, response
// headers, response body, each as varint length + bytes. Headers are "name: value\r\n"
// lines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plextap::capture {

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
  std::vector<std::pair<std::string, std::string>> request_headers;
  std::string request_body;
  std::vector<std::pair<std::string, std::string>> response_headers;
  std::string response_body;
};

std::string encode_exchange(const Exchange& e);
// Null when the bytes are not an exchange of a known format.
std::optional<Exchange> decode_exchange(std::string_view bytes);

}  // namespace plextap::capture
