// Builds JSON text by appending to a caller's std::string. Event records and exports are
// written with it, so it avoids iostreams, locales and per-value allocations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace plextap::base {

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF) of two to four bytes starting at s[i], or 0 when
// none starts there (an ASCII byte included).
std::size_t utf8_length(std::string_view s, std::size_t i);

// Appends `s` escaped for the inside of a JSON string literal (no quotes), the one escaper
// of everything plextap writes as JSON (records, exports, the access log, the process log):
// - '"' and '\\' are escaped, \b \f \n \r \t take their short forms;
// - the other control characters, C0, DEL and the C1 range U+0080..U+009F (which a
//   terminal may act on), become \u00XX;
// - each byte that is not part of well-formed UTF-8 (RFC 3629: no overlong forms, no
//   surrogates, nothing past U+10FFFF) becomes U+FFFD.
// So the output is valid JSON and valid UTF-8 whatever a client or server sent.
void append_json_escaped(std::string& out, std::string_view s);

// The same between quotes: a whole JSON string.
void append_json_string(std::string& out, std::string_view s);

// Writes one JSON value (usually an object) into `out`, inserting the commas itself. The
// caller is trusted to nest begin/end and key/value calls correctly; nothing is checked,
// because every call sits on the recording path.
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  void key(std::string_view name);
  void string(std::string_view value);
  void int64(std::int64_t value);
  void uint64(std::uint64_t value);
  // Shortest text that reads back as the same double. NaN and infinities have no JSON
  // form and are written as null.
  void number(double value);
  void boolean(bool value);
  void null();
  // Splices already serialised JSON (e.g. a stored sub-record) as one value.
  void raw(std::string_view json);

  std::string& str() { return out_; }

 private:
  void before_value() {
    if (need_comma_) out_.push_back(',');
    need_comma_ = true;
  }
  void open(char c) {
    if (need_comma_) out_.push_back(',');
    out_.push_back(c);
    need_comma_ = false;
  }
  void close(char c) {
    out_.push_back(c);
    need_comma_ = true;
  }

  std::string& out_;
  // A single flag is enough: after `{`, `[` or a key nothing precedes the next token; after
  // any complete value a comma does.
  bool need_comma_ = false;
};

}  // namespace plextap::base
