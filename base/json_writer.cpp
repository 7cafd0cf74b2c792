// JSON text output: string escaping with UTF-8 repair, and locale-free number formatting.
#include "base/json_writer.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace plextap::base {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool is_cont(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// The bytes that pass unchanged: printable ASCII other than '"' and '\\'.
constexpr auto kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x7F; ++c) t[c] = c != '"' && c != '\\';
  return t;
}();

// Whether all eight bytes of `w` pass unchanged: printable ASCII other than '"' and '\\'.
// Word-at-a-time tests (each exact for "some byte is"), so that the text of an event, which
// is nearly all plain, costs about one instruction per byte rather than four.
constexpr bool all_plain(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
  auto some_zero = [](std::uint64_t v) { return (v - ones) & ~v & high; };
  std::uint64_t bad = w & high;          // not ASCII
  bad |= (w - ones * 0x20) & ~w & high;  // below 0x20
  bad |= some_zero(w ^ (ones * '"'));
  bad |= some_zero(w ^ (ones * '\\'));
  bad |= some_zero(w ^ (ones * 0x7F));  // DEL
  return bad == 0;
}

}  // namespace

// Unicode table 3-7.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) -> unsigned char {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0;
  };
  unsigned char c = at(0);
  if (c >= 0xC2 && c <= 0xDF) return is_cont(at(1)) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return at(1) >= lo && at(1) <= hi && is_cont(at(2)) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return at(1) >= lo && at(1) <= hi && is_cont(at(2)) && is_cont(at(3)) ? 4 : 0;
  }
  return 0;
}

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto unicode_escape = [&](unsigned c) {
    const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
    out.append(esc, sizeof esc);
  };
  std::size_t run = 0;  // start of the pending run of bytes copied unchanged
  std::size_t i = 0;
  while (i < s.size()) {
    for (std::uint64_t w; i + 8 <= s.size() && (std::memcpy(&w, s.data() + i, 8), all_plain(w));)
      i += 8;
    while (i < s.size() && kPlain[static_cast<unsigned char>(s[i])]) ++i;
    if (i == s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 1;
    if (c >= 0x80) {
      n = utf8_length(s, i);
      // U+0080..U+009F (C2 80..C2 9F): C1 controls, escaped like the C0 ones.
      if (n > 1 && !(c == 0xC2 && static_cast<unsigned char>(s[i + 1]) <= 0x9F)) {
        i += n;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x80)
          unicode_escape(c);  // C0 and DEL
        else if (n == 2)
          unicode_escape(static_cast<unsigned char>(s[i + 1]));  // C1
        else
          out.append(kReplacement);  // one U+FFFD per byte that is not UTF-8
    }
    i += n == 0 ? 1 : n;
    run = i;
  }
  out.append(s.data() + run, s.size() - run);
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  append_json_escaped(out, s);
  out.push_back('"');
}

void JsonWriter::key(std::string_view name) {
  // Nearly every key is a short plain name: one append, no escaper.
  constexpr std::size_t kShort = 60;
  if (name.size() <= kShort && std::all_of(name.begin(), name.end(), [](char c) {
        return kPlain[static_cast<unsigned char>(c)];
      })) {
    char buf[kShort + 4];
    char* p = buf;
    if (need_comma_) *p++ = ',';
    *p++ = '"';
    p = std::copy(name.begin(), name.end(), p);
    *p++ = '"';
    *p++ = ':';
    out_.append(buf, static_cast<std::size_t>(p - buf));
  } else {
    if (need_comma_) out_.push_back(',');
    append_json_string(out_, name);
    out_.push_back(':');
  }
  need_comma_ = false;
}

void JsonWriter::string(std::string_view value) {
  before_value();
  append_json_string(out_, value);
}

void JsonWriter::int64(std::int64_t value) {
  before_value();
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  out_.append(buf, res.ptr);
}

void JsonWriter::uint64(std::uint64_t value) {
  before_value();
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  out_.append(buf, res.ptr);
}

void JsonWriter::number(double value) {
  if (!std::isfinite(value)) {
    null();
    return;
  }
  before_value();
  char buf[32];
  // std::to_chars without a precision gives the shortest round-trip form and ignores the
  // locale; its output ("1e+21", "-0", "0.1") is always valid JSON.
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  // Large integral values come out as long digit strings ("30722066015198720000"), which
  // strict readers (simdjson among them) reject as integers too big for 64 bits; the
  // scientific form reads back as the same double everywhere.
  if (std::fabs(value) >= 1e15 &&
      std::string_view(buf, res.ptr - buf).find_first_of(".e") == std::string_view::npos)
    res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  out_.append(buf, res.ptr);
}

void JsonWriter::boolean(bool value) {
  before_value();
  out_.append(value ? "true" : "false");
}

void JsonWriter::null() {
  before_value();
  out_.append("null");
}

void JsonWriter::raw(std::string_view json) {
  before_value();
  out_.append(json);
}

}  // namespace plextap::base
