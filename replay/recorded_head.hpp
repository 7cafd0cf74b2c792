// The head `replay serve` sends for a recorded answer, built once when the source is
// loaded. A store or a HAR file is not trusted: a field name that is not a token, or a
// value holding CR, LF, NUL or another control byte, would let a recording inject header
// fields or a whole second response. Such fields are left out and counted, never emitted.
// Framing and connection management are the session's, so recorded ones are left out too.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "capture/exchange.hpp"

namespace plextap::replay {

// RFC 9110 section 5.6.2: one or more tchar.
bool is_token(std::string_view s);
// RFC 9110 section 5.5 field-value: VCHAR, obs-text (0x80-0xFF), SP and HTAB; no other
// control byte (CR, LF, NUL, DEL, ...). Leading and trailing whitespace is allowed here and
// trimmed when emitted.
bool is_field_value(std::string_view s);
// RFC 9112 section 4: a status line carries three digits.
constexpr bool is_valid_status(unsigned status) {
  return status >= 100 && status <= 999;
}

// "HTTP/1.1 404 Not Found\r\n". The reason phrase is the standard one for the code, or
// empty (a status line may carry an empty one) when the code has none.
std::string status_line(unsigned status);

struct RecordedHead {
  std::string head;         // the status line, then the recorded fields kept, CRLF each
  bool has_length = false;  // a recorded answer to HEAD keeps its Content-Length
  std::size_t invalid = 0;  // recorded fields left out because they are not valid HTTP
};

// `ex.status` must satisfy is_valid_status. `keep_encoding` false leaves Content-Encoding
// out (for a body served decoded).
RecordedHead recorded_head(const capture::Exchange& ex, bool keep_encoding);

}  // namespace plextap::replay
