// The framing rule of DESIGN.md section 9: what a head's fields say, then the plan for a
// request and for a response, then the heads written anew. Over 400 lines on purpose: it
// is one rule, and its request and response sides read best next to the field
// classification they share (a smuggling bug hides in the gap between two files).
#include "proxy/framing.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <vector>

#include "net/hop_by_hop.hpp"

namespace plextap::proxy {
namespace {

constexpr char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// `b` is lower case.
constexpr bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != b[i]) return false;
  return true;
}

bool istarts(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ieq(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls `fn` for each element of a comma-separated list, white space trimmed; empty
// elements are skipped, as RFC 9110 section 5.6.1 asks of recipients.
template <class Fn>
void for_each_element(std::string_view list, Fn fn) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto element = trim(list.substr(0, comma));
    if (!element.empty()) fn(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

// 1*DIGIT and nothing else: no sign, no white space inside, no hex.
std::optional<std::uint64_t> parse_length(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// uri-host [":" port] of RFC 3986: reg-name or IP literal characters only, so that no
// white space, path, user information or second host can hide in it.
bool valid_host(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::strchr("-._~%!$&'()*+,;=:[]", c) != nullptr;
    if (!ok || c == '\0') return false;
  }
  return true;
}

// CR, LF and NUL never belong in a field value (the parser refuses them already; the
// head is written from these values, so it is checked again here).
bool value_ok(std::string_view v) {
  for (char c : v)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

// The fields the proxy treats itself rather than passing on.
enum class Known : std::uint8_t {
  other,
  host,
  content_length,
  transfer_encoding,
  connection,  // also Proxy-Connection
  keep_alive,
  te,
  trailer,
  upgrade,
  expect,
  proxy_authorization,
  proxy_authenticate,
  x_forwarded_for,
  x_forwarded_proto,
  x_forwarded_host,
  forwarded,
  x_real_ip,
};

constexpr Known classify(std::string_view name) {
  switch (name.size()) {
    case 2:
      if (ieq(name, "te")) return Known::te;
      break;
    case 4:
      if (ieq(name, "host")) return Known::host;
      break;
    case 6:
      if (ieq(name, "expect")) return Known::expect;
      break;
    case 7:
      if (ieq(name, "trailer")) return Known::trailer;
      if (ieq(name, "upgrade")) return Known::upgrade;
      break;
    case 9:
      if (ieq(name, "forwarded")) return Known::forwarded;
      if (ieq(name, "x-real-ip")) return Known::x_real_ip;
      break;
    case 10:
      if (ieq(name, "connection")) return Known::connection;
      if (ieq(name, "keep-alive")) return Known::keep_alive;
      break;
    case 14:
      if (ieq(name, "content-length")) return Known::content_length;
      break;
    case 15:
      if (ieq(name, "x-forwarded-for")) return Known::x_forwarded_for;
      break;
    case 16:
      if (ieq(name, "proxy-connection")) return Known::connection;
      if (ieq(name, "x-forwarded-host")) return Known::x_forwarded_host;
      break;
    case 17:
      if (ieq(name, "transfer-encoding")) return Known::transfer_encoding;
      if (ieq(name, "x-forwarded-proto")) return Known::x_forwarded_proto;
      break;
    case 18:
      if (ieq(name, "proxy-authenticate")) return Known::proxy_authenticate;
      break;
    case 19:
      if (ieq(name, "proxy-authorization")) return Known::proxy_authorization;
      break;
  }
  return Known::other;
}

// Every hop-by-hop field of the shared policy is one the proxy handles itself (writes its
// own or drops) rather than passing on as another field.
static_assert(std::all_of(net::kHopByHop.begin(), net::kHopByHop.end(),
                          [](std::string_view name) { return classify(name) != Known::other; }));

// Whether `name` is one of the fields above spelled with '_' for '-' (Content_Length,
// Transfer_Encoding, X_Forwarded_For): servers that map header names to variables
// (CGI-style HTTP_CONTENT_LENGTH) read it as that field, the proxy would pass it on as
// an unknown one.
bool underscore_alias(std::string_view name) {
  char buf[20];
  if (name.size() > sizeof buf || name.find('_') == std::string_view::npos) return false;
  std::replace_copy(name.begin(), name.end(), buf, '_', '-');
  return classify({buf, name.size()}) != Known::other;
}

// What the framing fields of a head say, gathered in one pass.
struct FramingFields {
  const char* error = nullptr;  // a field that can't be read
  unsigned hosts = 0;
  std::string_view host;
  std::optional<std::uint64_t> length;
  bool transfer_encoding = false;
  unsigned codings = 0;
  bool last_chunked = false;   // the final coding is chunked
  bool early_chunked = false;  // chunked before another coding: applied twice or not last
  bool other_coding = false;   // a coding other than chunked
  bool close = false, keep_alive = false, upgrade = false;  // Connection options
  const char* framing_named = nullptr;  // Connection names a framing field or Host
  bool websocket = false;               // Upgrade offers websocket
  bool expects_continue = false;
  // Other fields named by Connection (hop-by-hop for this message only).
  std::vector<std::string_view> named;
};

// More options in Connection than any client sends: refused rather than compared
// against every field.
constexpr std::size_t kMaxConnectionOptions = 32;

FramingFields read_framing(std::span<const Field> fields) {
  FramingFields f;
  for (const auto& field : fields) {
    if (!value_ok(field.value)) {
      f.error = "a header field holds a control character";
      return f;
    }
    switch (classify(field.name)) {
      case Known::host:
        ++f.hosts;
        f.host = trim(field.value);
        break;
      case Known::content_length: {
        bool any = false;
        for_each_element(field.value, [&](std::string_view e) {
          any = true;
          auto v = parse_length(e);
          if (!v)
            f.error = "bad Content-Length";
          else if (f.length && *f.length != *v)
            f.error = "conflicting Content-Length values";
          else
            f.length = v;
        });
        if (!any) f.error = "empty Content-Length";
        if (f.error) return f;
        break;
      }
      case Known::transfer_encoding:
        f.transfer_encoding = true;
        for_each_element(field.value, [&](std::string_view e) {
          ++f.codings;
          if (f.last_chunked) f.early_chunked = true;
          f.last_chunked = ieq(e, "chunked");
          if (!f.last_chunked) f.other_coding = true;
        });
        break;
      case Known::connection:
        for_each_element(field.value, [&](std::string_view e) {
          if (ieq(e, "close"))
            f.close = true;
          else if (ieq(e, "keep-alive"))
            f.keep_alive = true;
          else if (ieq(e, "upgrade"))
            f.upgrade = true;
          else if (ieq(e, "content-length"))
            f.framing_named = "Connection names Content-Length";
          else if (ieq(e, "transfer-encoding"))
            f.framing_named = "Connection names Transfer-Encoding";
          else if (ieq(e, "host"))
            f.framing_named = "Connection names Host";
          else if (!is_token(e))
            f.error = "bad Connection option";
          else if (f.named.size() < kMaxConnectionOptions)
            f.named.push_back(e);
          else
            f.error = "too many Connection options";
        });
        if (f.error) return f;
        break;
      case Known::upgrade:
        for_each_element(field.value, [&](std::string_view e) {
          if (ieq(e, "websocket")) f.websocket = true;
        });
        break;
      case Known::expect:
        if (ieq(trim(field.value), "100-continue")) f.expects_continue = true;
        break;
      default:
        break;
    }
  }
  return f;
}

bool named_by_connection(const std::vector<std::string_view>& named, std::string_view name) {
  for (auto n : named)
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(),
                                              [](char a, char b) { return lower(a) == lower(b); }))
      return true;
  return false;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  (void)ec;
  out.append(digits, end);
}

}  // namespace

RequestPlan plan_request(const RequestHeadIn& head, std::string_view upstream_host) {
  RequestPlan plan;
  auto refuse = [&plan](unsigned status, const char* reason) {
    plan.reject = status;
    plan.reason = reason;
    return plan;
  };
  if (head.method == "CONNECT") return refuse(405, "CONNECT is not supported by this proxy");
  if (head.version < 10 || head.version >= 20)
    return refuse(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  const bool http11 = head.version >= 11;

  auto f = read_framing(head.fields);
  if (f.error) return refuse(400, f.error);
  if (f.framing_named) return refuse(400, f.framing_named);
  plan.connection_named = std::move(f.named);
  for (const auto& field : head.fields)
    if (underscore_alias(field.name))
      return refuse(400, "a framing or forwarding field spelled with '_'");

  // RFC 9112 section 6.1 and 6.3: chunked must be the final coding, applied once; a
  // coding the proxy does not implement is 501; with Content-Length as well, or in an
  // HTTP/1.0 message, the framing is faulty.
  if (f.transfer_encoding) {
    if (!http11) return refuse(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (f.length) return refuse(400, "both Content-Length and Transfer-Encoding");
    if (f.codings == 0) return refuse(400, "empty Transfer-Encoding");
    if (!f.last_chunked) return refuse(400, "Transfer-Encoding does not end in chunked");
    if (f.early_chunked) return refuse(400, "chunked applied more than once");
    if (f.other_coding) return refuse(501, "transfer coding not implemented");
    plan.body = Framing::chunked;
  } else if (f.length) {
    plan.body = Framing::length;
    plan.length = *f.length;
  }

  if (f.hosts > 1) return refuse(400, "more than one Host");
  if (http11 && f.hosts == 0) return refuse(400, "HTTP/1.1 request without Host");
  if (!f.host.empty() && !valid_host(f.host)) return refuse(400, "bad Host");

  // RFC 9112 section 3.2: origin-form, absolute-form (turned into origin-form, its
  // authority the Host), or * for OPTIONS.
  std::string_view target = head.target;
  std::string_view authority;
  bool absolute = false;
  if (!target.empty() && target.front() == '/') {
    plan.target = target;
  } else if (target == "*") {
    if (head.method != "OPTIONS") return refuse(400, "* is a target for OPTIONS only");
    plan.target = target;
  } else if (istarts(target, "http://") || istarts(target, "https://")) {
    auto rest = target.substr(target.find("://") + 3);
    auto end = rest.find_first_of("/?#");
    authority = rest.substr(0, end);
    auto path = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (!valid_host(authority)) return refuse(400, "bad host in an absolute-form target");
    if (!path.empty() && path.front() == '#') return refuse(400, "bad absolute-form target");
    plan.slash = path.empty() || path.front() != '/';
    plan.target = path;
    absolute = true;
  } else {
    return refuse(400, "the request target must be a path");
  }

  if (absolute) {
    plan.host = authority;
    plan.client_host = authority;
  } else if (!f.host.empty()) {
    plan.host = f.host;
    plan.client_host = f.host;
  } else {
    plan.host = upstream_host;  // HTTP/1.0 clients may omit Host; the server needs one
  }

  plan.keep_alive = http11 ? !f.close : f.keep_alive && !f.close;
  plan.upgrade = f.websocket && f.upgrade && http11 && head.method == "GET";
  plan.expects_continue = f.expects_continue;
  plan.head = head.method == "HEAD";
  plan.idempotent = head.method == "GET" || plan.head || head.method == "OPTIONS";
  return plan;
}

void write_request_head(std::string& out, const RequestHeadIn& head, const RequestPlan& plan,
                        std::string_view remote_addr, bool tls) {
  out.append(head.method).append(plan.slash ? " /" : " ").append(plan.target);
  out.append(" HTTP/1.1\r\n");
  append_field(out, "Host", plan.host);
  for (const auto& field : head.fields) {
    switch (classify(field.name)) {
      case Known::other:
        if (plan.connection_named.empty() ||
            !named_by_connection(plan.connection_named, field.name))
          append_field(out, field.name, field.value);
        break;
      case Known::upgrade:
        if (plan.upgrade) append_field(out, field.name, field.value);
        break;
      default:  // hop-by-hop, framing or forwarding: written by the proxy or dropped
        break;
    }
  }
  if (plan.body == Framing::length) {
    out.append("Content-Length: ");
    append_number(out, plan.length);
    out.append("\r\n");
  } else if (plan.body == Framing::chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  if (plan.upgrade) out.append("Connection: Upgrade\r\n");
  out.append("X-Forwarded-For: ");
  for (const auto& field : head.fields)
    if (classify(field.name) == Known::x_forwarded_for)
      for_each_element(field.value, [&](std::string_view hop) { out.append(hop).append(", "); });
  out.append(remote_addr).append("\r\n");
  out.append(tls ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
  if (!plan.client_host.empty()) append_field(out, "X-Forwarded-Host", plan.client_host);
  append_field(out, "X-Real-IP", remote_addr);
  out.append("\r\n");
}

ResponsePlan plan_response(const ResponseHeadIn& head, const ResponseContext& context) {
  ResponsePlan plan;
  auto bad = [&plan](const char* reason) {
    plan.bad = true;
    plan.reason = reason;
    return plan;
  };
  if (head.version < 10 || head.version >= 20)
    return bad("the server speaks neither HTTP/1.0 nor 1.1");
  // Beast reads any three digits; the client would get a status line it can't parse.
  if (head.status < 100) return bad("a status code below 100");
  auto f = read_framing(head.fields);
  if (f.error) return bad(f.error);
  plan.connection_named = std::move(f.named);
  if (f.transfer_encoding) {
    if (f.length) return bad("both Content-Length and Transfer-Encoding");
    if (f.codings != 1 || !f.last_chunked) return bad("a transfer coding other than chunked");
  }
  if (head.status == 101) {
    if (!context.upgrade_requested)
      return bad("101 Switching Protocols to a request without upgrade");
    plan.tunnel = true;
    return plan;
  }

  const bool bodyless =
      context.head_request || head.status / 100 == 1 || head.status == 204 || head.status == 304;
  if (bodyless) {
    plan.from_server = Framing::none;
    plan.length_without_body = f.length && head.status != 204 && head.status / 100 != 1;
    plan.length = f.length.value_or(0);
  } else if (f.transfer_encoding) {
    plan.from_server = Framing::chunked;
  } else if (f.length) {
    plan.from_server = Framing::length;
    plan.length = *f.length;
  } else {
    plan.from_server = Framing::close;
  }

  const bool http10_client = context.client_version < 11;
  switch (plan.from_server) {
    case Framing::none:
    case Framing::length:
      plan.to_client = plan.from_server;
      break;
    case Framing::chunked:
    case Framing::close:  // HTTP/1.0 clients never get chunked: the close ends the body
      plan.to_client = http10_client ? Framing::close : Framing::chunked;
      break;
  }
  const bool server_persistent = head.version >= 11 ? !f.close : f.keep_alive && !f.close;
  // A server that names its framing fields as hop-by-hop is not trusted with a second
  // request on the same connection.
  plan.server_keep_alive =
      server_persistent && plan.from_server != Framing::close && !f.framing_named;
  plan.keep_alive = context.client_keep_alive && plan.to_client != Framing::close;
  return plan;
}

void write_response_head(std::string& out, const ResponseHeadIn& head, const ResponsePlan& plan,
                         unsigned client_version) {
  out.append("HTTP/1.1 ");
  append_number(out, head.status);
  out.append(" ").append(head.reason).append("\r\n");
  for (const auto& field : head.fields) {
    switch (classify(field.name)) {
      case Known::other:
      case Known::host:
      case Known::expect:
      case Known::proxy_authorization:
      case Known::x_forwarded_for:
      case Known::x_forwarded_proto:
      case Known::x_forwarded_host:
      case Known::forwarded:
      case Known::x_real_ip:
        if (plan.connection_named.empty() ||
            !named_by_connection(plan.connection_named, field.name))
          append_field(out, field.name, field.value);
        break;
      case Known::upgrade:
        if (plan.tunnel) append_field(out, field.name, field.value);
        break;
      default:  // hop-by-hop or framing: the proxy writes its own
        break;
    }
  }
  if (plan.to_client == Framing::length || plan.length_without_body) {
    out.append("Content-Length: ");
    append_number(out, plan.length);
    out.append("\r\n");
  } else if (plan.to_client == Framing::chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  if (plan.tunnel)
    out.append("Connection: Upgrade\r\n");
  else if (!plan.keep_alive)
    out.append("Connection: close\r\n");
  else if (client_version < 11)
    out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
}

std::string_view frame_piece(char* piece, std::size_t size, Framing framing, bool last) {
  if (framing != Framing::chunked) return {piece, size};
  char* begin = piece;
  char* end = piece + size;
  if (size) {
    char digits[16];
    auto [digits_end, ec] = std::to_chars(digits, digits + sizeof digits, size, 16);
    (void)ec;
    std::size_t n = static_cast<std::size_t>(digits_end - digits);
    begin = piece - n - 2;
    std::memcpy(begin, digits, n);
    std::memcpy(begin + n, "\r\n", 2);
    std::memcpy(end, "\r\n", 2);
    end += 2;
  }
  if (last) {
    std::memcpy(end, kLastChunk.data(), kLastChunk.size());
    end += kLastChunk.size();
  }
  return {begin, static_cast<std::size_t>(end - begin)};
}

}  // namespace plextap::proxy
