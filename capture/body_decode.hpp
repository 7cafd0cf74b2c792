// Undoes the Content-Encoding of the tap's own copy of a body (the forwarded bytes are never
// touched), with a hard cap on the output so a compressed bomb cannot grow memory.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace plextap::capture {

struct Decoded {
  std::string body;          // decoded bytes; on failure, what was decoded before it
  bool ok = false;           // false: unsupported encoding or corrupt/truncated input
  bool truncated = false;    // output stopped at max_out; the body is a prefix
  bool unsupported = false;  // a coding this decoder does not know: nothing was read
  std::string error;         // why ok is false
};

// `content_encoding` is the header value: empty or "identity", "gzip"/"x-gzip", "deflate"
// (zlib-wrapped as the RFC says, or raw deflate as some servers send), or a comma-separated
// list of these applied in order. Concatenated gzip members are all decoded. An empty body
// decodes to an empty body whatever the encoding (HEAD, 204, 304).
Decoded decode_body(std::string_view content_encoding, std::string_view body, std::size_t max_out);

}  // namespace plextap::capture
