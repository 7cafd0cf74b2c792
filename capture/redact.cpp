// Token redaction: find the byte ranges that hold token values, then replace each by
// "REDACTED". Finding works on "readings" of the text: the text itself, then the text after
// one, two, ... rounds of percent-decoding, each character remembering where in the
// original it came from, so that a name found at any level redacts the original bytes.
#include "capture/redact.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "base/percent.hpp"
#include "capture/text.hpp"

namespace plextap::capture {
namespace {

constexpr std::string_view kName = "x-plex-token";
// '=' plain, percent-encoded once and twice: the levels substitute_token() puts a token
// back at (redact_target() finds the name at any level).
constexpr std::string_view kEquals[] = {"=", "%3d", "%253d"};
constexpr std::string_view kSuffix = "token";

// A range of the original text holding a token value.
struct Span {
  std::size_t begin, end;
};

// The decoding rounds here cannot use base::percent_decode: each decoded character must
// remember where in the original text it came from (see Reading), and the in-place round of
// segment_holds_value avoids an allocation per round. They share base's escape rules.
using base::is_percent_escape;
using base::percent_escaped_byte;

std::size_t first_escape(std::string_view s) {
  for (std::size_t i = s.find('%'); i != std::string_view::npos; i = s.find('%', i + 1))
    if (is_percent_escape(s, i)) return i;
  return std::string_view::npos;
}

// Where a parameter ends, at every level of decoding. None of these can occur in a working
// token (legacy tokens and JWTs are letters, digits, '-', '_' and '.'), so ending a value
// early at one of them never leaves part of a usable token behind. A table: this is asked
// of every byte of every stored target, header value and body.
constexpr auto kEndsValue = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c <= 0x20; ++c) t[c] = true;
  t[0x7f] = true;
  for (unsigned char c : std::string_view("&;#\"'<>")) t[c] = true;
  return t;
}();

inline bool ends_value(char c) {
  return kEndsValue[static_cast<unsigned char>(c)];
}

// What may stand between a name and its '=' and still be read as that name by a lenient
// parser: '+' (a space in form encoding) and blanks.
bool is_gap(char c) {
  return c == '+' || c == ' ' || c == '\t';
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// Case-insensitive search for a lower-case `needle`: a plain loop, as std::search with a
// predicate is a call per character and this runs over every recorded target and header.
std::size_t ifind(std::string_view s, std::string_view needle, std::size_t from) {
  if (needle.size() > s.size()) return std::string_view::npos;
  const char first = needle.front();
  for (std::size_t i = from, last = s.size() - needle.size(); i <= last; ++i) {
    if (ascii_lower(s[i]) != first) continue;
    std::size_t k = 1;
    while (k < needle.size() && ascii_lower(s[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

// The text of a segment after some rounds of decoding; from[i] is where text[i] begins in
// the segment. The characters of every reading split the segment into the same order of
// contiguous pieces, so a run of them maps back to one contiguous range.
struct Reading {
  std::string text;
  std::vector<std::uint32_t> from;
};

// One round of percent-decoding ('+' stays '+': it never spells a character of the name).
void decode_once(std::string_view text, const std::vector<std::uint32_t>* from, Reading& out) {
  out.text.clear();
  out.from.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto origin = static_cast<std::uint32_t>(from ? (*from)[i] : i);
    if (is_percent_escape(text, i)) {
      out.text.push_back(percent_escaped_byte(text, i));
      i += 2;
    } else {
      out.text.push_back(text[i]);
    }
    out.from.push_back(origin);
  }
}

// Values of X-Plex-Token parameters in one reading of a segment that begins at `base` in the
// original text and is `size` bytes long there.
void find_values(std::string_view text, const std::vector<std::uint32_t>* from, std::size_t base,
                 std::size_t size, std::vector<Span>& out) {
  auto origin = [&](std::size_t i) {
    return base + (i >= text.size() ? size : from ? (*from)[i] : i);
  };
  for (std::size_t at = ifind(text, kName, 0); at != std::string_view::npos;
       at = ifind(text, kName, at + 1)) {
    std::size_t i = at + kName.size();
    while (i < text.size() && is_gap(text[i])) ++i;
    if (i >= text.size() || text[i] != '=') continue;
    ++i;
    while (i < text.size() && is_blank(text[i])) ++i;
    std::size_t begin = i;
    while (i < text.size() && !ends_value(text[i])) ++i;
    if (i > begin) out.push_back({origin(begin), origin(i)});
  }
}

// Whether some reading of a segment holds a token value (or is still encoded past the
// bound): the same walk as segment_values without keeping origins, as most segments
// with escapes hold none and this costs no mapping.
bool segment_holds_value(std::string_view segment, Reading& scratch) {
  std::string& text = scratch.text;
  text.assign(segment);
  std::vector<Span> found;
  for (int depth = 0;; ++depth) {
    find_values(text, nullptr, 0, text.size(), found);
    if (!found.empty()) return true;
    auto escape = first_escape(text);
    if (escape == std::string_view::npos) return false;
    if (depth == kMaxDecodeDepth) return true;
    std::size_t w = escape;
    for (std::size_t r = escape; r < text.size(); ++r, ++w) {
      if (is_percent_escape(text, r)) {
        text[w] = percent_escaped_byte(text, r);
        r += 2;
      } else {
        text[w] = text[r];
      }
    }
    text.resize(w);
  }
}

// A segment is a run of the original text without any character that ends a segment: no
// name, '=' or value (at any level) crosses its edges, as decoding never removes those
// characters. `scratch` is reused from segment to segment.
void segment_values(std::string_view segment, std::size_t base, std::vector<Span>& out,
                    Reading (&scratch)[2]) {
  if (first_escape(segment) == std::string_view::npos) {
    find_values(segment, nullptr, base, segment.size(), out);
    return;
  }
  if (!segment_holds_value(segment, scratch[0])) return;
  find_values(segment, nullptr, base, segment.size(), out);
  decode_once(segment, nullptr, scratch[0]);
  for (int depth = 1;; ++depth) {
    Reading& r = scratch[(depth - 1) % 2];
    find_values(r.text, &r.from, base, segment.size(), out);
    auto escape = first_escape(r.text);
    if (escape == std::string_view::npos) return;
    if (depth == kMaxDecodeDepth) {
      // Still encoded this deep: whatever hides there counts as a token.
      out.push_back({base + r.from[escape], base + segment.size()});
      return;
    }
    decode_once(r.text, &r.from, scratch[depth % 2]);
  }
}

// Where segments end: where values end, but for blanks, which may also stand around an
// '=' ("X-Plex-Token = v", also as "%20" at a deeper level). The value still ends at them.
bool ends_segment(char c) {
  return ends_value(c) && !is_blank(c);
}

void parameter_values(std::string_view text, std::vector<Span>& out) {
  // Without an escape only the plain name can match: most header values end here.
  if (text.find('%') == std::string_view::npos) {
    if (ifind(text, kName, 0) == std::string_view::npos) return;
  }
  Reading scratch[2];
  for (std::size_t i = 0; i < text.size();) {
    std::size_t end = i;
    while (end < text.size() && !ends_segment(text[end])) ++end;
    // Shorter segments cannot hold a name, its '=' and a value.
    if (end - i > kName.size() + 1) segment_values(text.substr(i, end - i), i, out, scratch);
    i = end + 1;
  }
}

std::size_t skip_blanks(std::string_view s, std::size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  return i;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == ':';
}

// A quoted value starting at its opening quote s[i]: up to the matching quote (JSON: not
// one escaped by a backslash), or to the end of a cut body.
void quoted_value(std::string_view s, std::size_t i, bool json, std::vector<Span>& out) {
  const char quote = s[i];
  std::size_t begin = ++i;
  while (i < s.size() && s[i] != quote) i += json && s[i] == '\\' ? 2 : 1;
  i = std::min(i, s.size());
  if (i > begin) out.push_back({begin, i});
}

// A setting whose name ends in "token" — `<Setting id="PlexOnlineToken" value="…"/>` in
// /:/prefs, or `{"id": "PlexOnlineToken", "value": "…"}` — holds the token in the value
// of its element or object: `value` and `default`, before or after the name.
void setting_value(std::string_view s, std::size_t at, std::vector<Span>& out) {
  std::size_t open = s.find_last_of("<{", at);
  std::size_t close = s.find_first_of(">}", at);
  if (open == std::string_view::npos) open = 0;
  if (close == std::string_view::npos) close = s.size();
  auto element = s.substr(0, close);
  for (std::string_view name : {"value", "default"}) {
    for (std::size_t i = ifind(element, name, open); i != std::string_view::npos;
         i = ifind(element, name, i + 1)) {
      if (i > 0 && is_name_char(s[i - 1])) continue;
      std::size_t j = i + name.size();
      const bool json = j < element.size() && element[j] == '"';
      if (json) ++j;
      j = skip_blanks(element, j);
      if (j >= element.size() || element[j] != (json ? ':' : '=')) continue;
      j = skip_blanks(element, j + 1);
      if (j < element.size() && (element[j] == '"' || element[j] == '\''))
        quoted_value(element, j, json, out);
    }
  }
}

// A multipart/form-data part whose quoted name (`name="…token"`, the quote at `quote`) ends
// in "token": its content, from after the blank line that ends the part's headers up to the
// next boundary line (or the end of a body cut short). True when the name is such a part's.
bool form_data_part(std::string_view s, std::size_t quote, std::size_t end,
                    std::vector<Span>& out) {
  constexpr std::string_view kName = "name=";
  if (quote < kName.size() || ifind(s.substr(quote - kName.size(), kName.size()), kName, 0) != 0)
    return false;
  const std::size_t line = s.rfind('\n', quote);
  const std::size_t line_start = line == std::string_view::npos ? 0 : line + 1;
  const std::string_view header = s.substr(line_start, quote - line_start);
  if (ifind(header, "content-disposition", 0) == std::string_view::npos ||
      ifind(header, "form-data", 0) == std::string_view::npos)
    return false;
  // The part's headers end with an empty line (CRLF CRLF, or LF LF from a lax client).
  std::size_t begin = s.find("\r\n\r\n", end);
  std::size_t skip = 4;
  if (const std::size_t lf = s.find("\n\n", end); lf < begin) {
    begin = lf;
    skip = 2;
  }
  if (begin == std::string_view::npos) return true;  // cut before its content: nothing kept
  begin += skip;
  std::size_t stop = s.find("\n--", begin);
  if (stop == std::string_view::npos)
    stop = s.size();
  else if (stop > begin && s[stop - 1] == '\r')
    --stop;
  if (stop > begin) out.push_back({begin, stop});
  return true;
}

// After a name ending in "token" at s[at, end): its value, if it has one in a form we know.
void key_value(std::string_view s, std::size_t at, std::size_t end, std::vector<Span>& out) {
  if (end >= s.size()) return;
  if (s[end] == '"' || s[end] == '\'') {
    // JSON: "…token": "value" (other JSON values are no tokens).
    std::size_t i = skip_blanks(s, end + 1);
    if (i < s.size() && s[i] == ':' && s[end] == '"') {
      i = skip_blanks(s, i + 1);
      if (i < s.size() && s[i] == '"') quoted_value(s, i, true, out);
      return;
    }
    // A quoted value ending in "token" names a form-data part, or a setting (see
    // setting_value).
    std::size_t first = at;
    while (first > 0 && s[first - 1] != s[end] && is_name_char(s[first - 1])) --first;
    if (first > 0 && s[first - 1] == s[end] && !form_data_part(s, first - 1, end + 1, out))
      setting_value(s, at, out);
    return;
  }
  if (s[end] == '>') {
    // XML element: <…token>value<, but not after a closing tag.
    std::size_t name = at;
    while (name > 0 && is_name_char(s[name - 1])) --name;
    if (name == 0 || s[name - 1] != '<') return;
    std::size_t i = end + 1, close = s.find('<', i);
    if (close == std::string_view::npos) close = s.size();
    if (skip_blanks(s, i) < close) out.push_back({i, close});
    return;
  }
  // XML attribute (…token="value") or a parameter in a form or script (…token=value).
  std::size_t i = end;
  while (i < s.size() && is_gap(s[i])) ++i;
  if (i >= s.size() || s[i] != '=') return;
  i = skip_blanks(s, i + 1);
  if (i >= s.size()) return;
  if (s[i] == '"' || s[i] == '\'') {
    quoted_value(s, i, false, out);
    return;
  }
  std::size_t begin = i;
  while (i < s.size() && !ends_value(s[i])) ++i;
  if (i > begin) out.push_back({begin, i});
}

void key_values(std::string_view body, std::vector<Span>& out) {
  for (std::size_t at = ifind(body, kSuffix, 0); at != std::string_view::npos;
       at = ifind(body, kSuffix, at + 1))
    key_value(body, at, at + kSuffix.size(), out);
}

// The text with every span (merged where they overlap) replaced by "REDACTED".
std::string replace_spans(std::string_view text, std::vector<Span>& spans) {
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (std::size_t k = 0; k < spans.size();) {
    std::size_t begin = spans[k].begin, end = spans[k].end;
    for (++k; k < spans.size() && spans[k].begin <= end; ++k) end = std::max(end, spans[k].end);
    out.append(text.substr(copied, begin - copied));
    out.append(kRedacted);
    copied = end;
  }
  out.append(text.substr(copied));
  return out;
}

std::string_view trim_gaps(std::string_view s) {
  while (!s.empty() && is_gap(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_gap(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string redact_target(std::string_view target) {
  std::vector<Span> spans;
  parameter_values(target, spans);
  if (spans.empty()) return std::string(target);
  return replace_spans(target, spans);
}

bool is_token_name(std::string_view name) {
  Reading r;
  std::string text(name);
  for (int depth = 0;; ++depth) {
    if (iequals(trim_gaps(text), kName)) return true;
    if (first_escape(text) == std::string_view::npos) return false;
    if (depth == kMaxDecodeDepth) return true;
    decode_once(text, nullptr, r);
    text.swap(r.text);
  }
}

std::optional<std::string> redact_body(std::string_view body) {
  std::vector<Span> spans;
  parameter_values(body, spans);
  key_values(body, spans);
  if (spans.empty()) return std::nullopt;
  return replace_spans(body, spans);
}

bool is_secret_header(std::string_view name) {
  for (auto secret : {"authorization", "proxy-authorization", "cookie", "set-cookie"})
    if (iequals(name, secret)) return true;
  return name.size() >= kSuffix.size() &&
         iequals(name.substr(name.size() - kSuffix.size()), kSuffix);
}

std::string substitute_token(std::string_view target, const std::optional<std::string>& token) {
  std::string out;
  std::size_t i = 0;
  for (;;) {
    std::size_t pos = ifind(target, kName, i);
    if (pos == std::string_view::npos) break;
    std::size_t after_name = pos + kName.size();
    int level = -1;
    for (int l = 0; l < 3; ++l)
      if (istarts_with(target.substr(after_name), kEquals[l])) level = l;
    std::size_t value = level < 0 ? after_name : after_name + kEquals[level].size();
    if (level < 0 || target.substr(value, kRedacted.size()) != kRedacted) {
      out.append(target.substr(i, value - i));
      i = value;
      continue;
    }
    std::size_t end = value + kRedacted.size();
    bool top_level = level == 0 && pos > 0 && (target[pos - 1] == '?' || target[pos - 1] == '&');
    if (!token && top_level) {
      // Drop the parameter with one of its separators: "?t&a" -> "?a", "?a&t" -> "?a".
      out.append(target.substr(i, pos - i));
      if (end < target.size() && target[end] == '&')
        ++end;
      else if (!out.empty() && (out.back() == '&' || out.back() == '?'))
        out.pop_back();
      i = end;
      continue;
    }
    std::string value_text = token ? *token : std::string();
    for (int l = 0; l <= level; ++l) value_text = base::percent_encode(value_text);
    out.append(target.substr(i, value - i)).append(value_text);
    i = end;
  }
  out.append(target.substr(i));
  return out;
}

}  // namespace plextap::capture
