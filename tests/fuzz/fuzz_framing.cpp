// The framing invariant, fuzzed: whatever bytes a client sends, the proxy either refuses
// them (a 4xx) or forwards bytes that a strict parser reads as exactly one request with
// exactly the body the client's request carried, and nothing left over. The same for
// answers: whatever a server sends, the client gets one well-framed response with the
// body the server's framing delimited, or a 502.
//
// The proxy's own steps are run as the session runs them: its head parser (Beast's
// basic_parser underneath) reads the head and the body pieces, proxy/framing plans, writes the head
// and frames each piece. The first input byte picks the direction and the piece size (so bodies
// split into many pieces), the second the request the answer belongs to.
#include <boost/beast/core/flat_buffer.hpp>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/framing.hpp"
#include "proxy/head_parser.hpp"

namespace http = boost::beast::http;
using plextap::proxy::Field;
using plextap::proxy::Framing;

namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "framing invariant violated: %s\n", what);
  std::abort();
}

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos);
}

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// A strict reader of what the proxy writes: one start line, `name: value` fields with
// no control characters, the framing fields at most once each and never both, and a body
// delimited exactly as they say.
struct Strict {
  std::string start_line;
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  std::string body;
  std::size_t consumed = 0;

  std::size_t count(std::string_view name) const {
    std::size_t n = 0;
    for (auto& [k, v] : fields) n += ieq(k, name);
    return n;
  }
  std::string_view get(std::string_view name) const {
    for (auto& [k, v] : fields)
      if (ieq(k, name)) return v;
    return {};
  }
};

std::size_t line_end(std::string_view s, std::size_t from) {
  auto at = s.find("\r\n", from);
  if (at == std::string_view::npos) violated("a line without CRLF");
  return at;
}

// Reads the head; returns the offset of the body.
std::size_t strict_head(std::string_view s, Strict& m) {
  auto end = line_end(s, 0);
  m.start_line = std::string(s.substr(0, end));
  for (char c : m.start_line)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t')
      violated("control character in start line");
  std::size_t at = end + 2;
  for (;;) {
    end = line_end(s, at);
    if (end == at) return at + 2;
    auto line = s.substr(at, end - at);
    auto colon = line.find(": ");
    if (colon == std::string_view::npos || colon == 0) violated("a field without ': '");
    auto name = line.substr(0, colon);
    for (char c : name)
      if (!is_tchar(c)) violated("a field name that is not a token");
    auto value = line.substr(colon + 2);
    for (char c : value)
      if (c == '\r' || c == '\n' || c == '\0') violated("CR, LF or NUL in a field value");
    m.fields.emplace_back(name, value);
    at = end + 2;
  }
}

// Reads the body from `at` as the framing fields say (`bodyless`: they describe a body
// that is not there); `to_end`: no framing means the body runs to the end.
void strict_body(std::string_view s, std::size_t at, Strict& m, bool bodyless, bool to_end) {
  const auto lengths = m.count("content-length");
  const auto codings = m.count("transfer-encoding");
  if (lengths > 1 || codings > 1) violated("a framing field twice");
  if (lengths && codings) violated("Content-Length and Transfer-Encoding together");
  if (bodyless) {
    m.consumed = at;
    return;
  }
  if (codings) {
    if (m.get("transfer-encoding") != "chunked") violated("a coding other than chunked");
    for (;;) {
      auto end = line_end(s, at);
      auto size_text = s.substr(at, end - at);
      if (size_text.empty() || size_text.size() > 15) violated("bad chunk size");
      std::size_t size = 0;
      for (char c : size_text) {
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) violated("chunk size not lower-case hex");
        size = size * 16 + static_cast<std::size_t>(d);
      }
      at = end + 2;
      if (size == 0) {
        if (s.substr(at, 2) != "\r\n") violated("trailer after the last chunk");
        m.consumed = at + 2;
        return;
      }
      if (s.size() < at + size + 2) violated("chunk beyond the end");
      m.body.append(s.substr(at, size));
      if (s.substr(at + size, 2) != "\r\n") violated("chunk without CRLF");
      at += size + 2;
    }
  }
  if (lengths) {
    auto text = m.get("content-length");
    std::size_t n = 0;
    for (char c : text) {
      if (c < '0' || c > '9') violated("Content-Length not decimal");
      n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    if (s.size() < at + n) violated("body shorter than Content-Length");
    m.body = std::string(s.substr(at, n));
    m.consumed = at + n;
    return;
  }
  if (to_end) m.body = std::string(s.substr(at));
  m.consumed = to_end ? s.size() : at;
}

// Feeds `in` to `parser`'s body in pieces of at most `room` bytes, framing each as the
// relay does. Returns false when the bytes end before the body (the session would wait,
// then close) or the body is malformed (400 / 502).
template <class Parser>
bool relay(Parser& parser, std::string_view& in, std::size_t room, Framing framing,
           std::string& out, std::string& body, bool eof_ends) {
  std::vector<char> buf(plextap::proxy::kChunkPrefix + room + plextap::proxy::kChunkSuffix);
  char* piece = buf.data() + plextap::proxy::kChunkPrefix;
  while (!parser.is_done()) {
    auto& b = parser.body();
    b.data = piece;
    b.size = room;
    boost::system::error_code ec;
    std::size_t used = in.empty() ? 0 : parser.put(boost::asio::buffer(in.data(), in.size()), ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return false;
    in.remove_prefix(used);
    std::size_t got = room - b.size;
    if (!got && !used && !parser.is_done()) {
      if (!eof_ends || !in.empty()) return false;
      parser.put_eof(ec);
      if (ec) return false;
    }
    body.append(piece, got);
    out.append(plextap::proxy::frame_piece(piece, got, framing, parser.is_done()));
  }
  return true;
}

void fuzz_request(std::string_view in, std::size_t room) {
  plextap::proxy::HeadStore store;
  plextap::proxy::RequestParser parser(store);
  parser.header_limit(64 * 1024);
  parser.body_limit(boost::none);
  boost::system::error_code ec;
  std::size_t used = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
  if (ec || !parser.is_header_done()) return;  // 400 / 431, or still waiting
  in.remove_prefix(used);
  plextap::proxy::RequestHeadIn head{parser.method(), parser.target(), parser.version(),
                                     parser.fields()};
  auto plan = plextap::proxy::plan_request(head, "127.0.0.1:32400");
  if (plan.reject) {
    if (plan.reject < 400 || plan.reject > 505) violated("a refusal that is not an error");
    return;
  }
  if (!plextap::proxy::parser_agrees(plan, parser)) return;  // refused with 400

  std::string out;
  plextap::proxy::write_request_head(out, head, plan, "10.0.0.1", true);
  std::string body;
  if (!parser.is_done() && !relay(parser, in, room, plan.body, out, body, false)) return;

  Strict m;
  auto at = strict_head(out, m);
  strict_body(out, at, m, false, false);
  if (m.consumed != out.size()) violated("bytes after the forwarded request");
  if (m.body != body) violated("the forwarded body is not the client's");
  if (m.count("host") != 1) violated("not exactly one Host");
  if (!m.start_line.ends_with(" HTTP/1.1")) violated("request line not HTTP/1.1");
  auto target = m.start_line.substr(m.start_line.find(' ') + 1);
  if (!(target.starts_with('/') || target.starts_with("* "))) violated("not origin-form");
  if (m.count("connection") > 1 || (m.count("connection") && m.get("connection") != "Upgrade"))
    violated("a Connection the proxy did not write");
}

void fuzz_response(std::string_view in, std::size_t room, unsigned char context_bits) {
  plextap::proxy::ResponseContext context{(context_bits & 1) != 0, (context_bits & 2) != 0,
                                          (context_bits & 4) ? 10u : 11u, (context_bits & 8) == 0};
  plextap::proxy::HeadStore store;
  std::optional<plextap::proxy::ResponseParser> reading;
  for (;;) {
    reading.emplace(store);
    reading->header_limit(64 * 1024);
    reading->body_limit(boost::none);
    if (context.head_request) reading->skip(true);
    boost::system::error_code ec;
    std::size_t used = reading->put(boost::asio::buffer(in.data(), in.size()), ec);
    if (ec || !reading->is_header_done()) return;  // 502, or still waiting
    in.remove_prefix(used);
    auto status = reading->status();
    if (status / 100 != 1 || status == 101) break;  // interim answers are skipped
  }
  auto& parser = *reading;
  plextap::proxy::ResponseHeadIn head{parser.status(), parser.reason(), parser.version(),
                                      parser.fields()};
  auto plan = plextap::proxy::plan_response(head, context);
  if (plan.bad || plan.tunnel || !plextap::proxy::parser_agrees(plan, parser)) return;

  std::string out;
  plextap::proxy::write_response_head(out, head, plan, context.client_version);
  std::string body;
  if (!parser.is_done() &&
      !relay(parser, in, room, plan.to_client, out, body, plan.from_server == Framing::close))
    return;

  Strict m;
  auto at = strict_head(out, m);
  const bool bodyless = context.head_request || head.status == 204 || head.status == 304;
  strict_body(out, at, m, bodyless, true);
  if (m.consumed != out.size()) violated("bytes after the relayed response");
  if (m.body != body) violated("the relayed body is not the server's");
  if (!m.start_line.starts_with("HTTP/1.1 ")) violated("status line not HTTP/1.1");
  if (context.client_version < 11 && m.count("transfer-encoding"))
    violated("chunked to an HTTP/1.0 client");
  const bool delimited = bodyless || m.count("content-length") || m.count("transfer-encoding");
  if (!delimited && (plan.keep_alive || m.get("connection") != "close"))
    violated("a close-delimited body on a connection kept open");
  if (plan.server_keep_alive && plan.from_server == Framing::close)
    violated("a close-delimited answer's connection pooled");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t room = 1 + (data[0] >> 1) % 64;
  if (data[0] & 1)
    fuzz_response(in, room, data[1]);
  else
    fuzz_request(in, room);
  return 0;
}
