// How the proxy frames what it forwards, decided from what its parser understood and
// nothing else. Each head that passes through is checked here and written anew: the
// forwarded request carries exactly one framing field (or none), written by the proxy,
// never a copy of the client's; the response to the client likewise. A head whose
// framing could be read two ways is refused, so the server and the proxy can never
// disagree on where one message ends and the next begins (RFC 9112 sections 6 and 7).
//
// Pure functions over string views: no I/O, no Beast, so the fuzz target runs them
// exactly as the session does.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "capture/tap.hpp"

namespace plextap::proxy {

// A header field as the parser read it: views into its buffer (the tap's type, so the
// same list serves the recorder).
using Field = capture::Header;

// How a body is delimited on one side of the proxy.
enum class Framing : std::uint8_t {
  none,     // no body
  length,   // Content-Length (possibly 0)
  chunked,  // Transfer-Encoding: chunked
  close,    // until the connection closes (responses only)
};

// A request head as the parser read it.
struct RequestHeadIn {
  std::string_view method;
  std::string_view target;
  unsigned version = 11;  // 10 or 11
  std::span<const Field> fields;
};

// What the proxy does with a request, decided from its head alone.
struct RequestPlan {
  unsigned reject = 0;  // non-zero: answer with this status, close, forward nothing
  std::string reason;   // why, for the error body and the log
  Framing body = Framing::none;
  std::uint64_t length = 0;  // with Framing::length
  bool keep_alive = true;    // the client asks for the connection to stay open
  bool upgrade = false;      // a WebSocket upgrade: Connection and Upgrade go through
  bool expects_continue = false;
  bool idempotent = false;  // GET, HEAD, OPTIONS: may be sent again on a fresh connection
  bool head = false;        // HEAD: the answer has no body
  // Views into the head (or into `upstream_host`): valid while they are.
  std::string_view target;       // origin-form (or "*" for OPTIONS), after `slash`
  bool slash = false;            // an absolute-form target without a path: "/" first
  std::string_view host;         // the Host the server gets
  std::string_view client_host;  // the host the client asked for; empty when it named none
  // Other fields the client's Connection names: hop-by-hop for this request only.
  std::vector<std::string_view> connection_named;
};

// Checks a request head and plans its forwarding. `upstream_host` (host[:port]) is the
// Host an HTTP/1.0 request without one gets.
RequestPlan plan_request(const RequestHeadIn& head, std::string_view upstream_host);

// Appends the head the server gets: the request line in origin-form, Host, the client's
// fields without hop-by-hop, framing and forwarding ones, then the proxy's own framing and
// X-Forwarded-For (the client's hops joined, then `remote_addr`), -Proto, -Host and
// X-Real-IP. The client's Forwarded is dropped.
void write_request_head(std::string& out, const RequestHeadIn& head, const RequestPlan& plan,
                        std::string_view remote_addr, bool tls);

// A response head as the parser read it.
struct ResponseHeadIn {
  unsigned status = 200;
  std::string_view reason;
  unsigned version = 11;
  std::span<const Field> fields;
};

// What the exchange's request says about the answer.
struct ResponseContext {
  bool head_request = false;
  bool upgrade_requested = false;
  unsigned client_version = 11;
  bool client_keep_alive = true;
};

struct ResponsePlan {
  bool bad = false;     // the server's head can't be trusted: 502, close that connection
  std::string reason;   // why
  bool tunnel = false;  // 101 to an upgrade: bytes flow both ways from now on
  Framing from_server = Framing::none;  // how the body arrives
  std::uint64_t length = 0;             // with Framing::length
  Framing to_client = Framing::none;    // how the proxy frames it
  // The head carries the server's Content-Length without a body (HEAD, 304).
  bool length_without_body = false;
  bool server_keep_alive = false;  // the server would let the connection be reused
  bool keep_alive = false;         // the client's connection stays open after the answer
  std::vector<std::string_view> connection_named;  // fields the server's Connection names
};

ResponsePlan plan_response(const ResponseHeadIn& head, const ResponseContext& context);

// Appends the head the client gets: an HTTP/1.1 status line, the server's fields without
// hop-by-hop and framing ones, then the proxy's framing and Connection (`keep-alive`
// spelled out for an HTTP/1.0 client).
void write_response_head(std::string& out, const ResponseHeadIn& head, const ResponsePlan& plan,
                         unsigned client_version);

// Whether a parser (Beast's basic_parser, after the head) will read the body the plan
// frames. They read the same fields; a disagreement, which would be a bug in one of them,
// must be refused rather than turned into a body the server reads differently.
template <class Parser>
bool parser_agrees(const RequestPlan& plan, const Parser& p) {
  switch (plan.body) {
    case Framing::none:
      return !p.chunked() && !p.content_length() && p.is_done();
    case Framing::length:
      return !p.chunked() && p.content_length() == plan.length;
    case Framing::chunked:
      return p.chunked();
    case Framing::close:
      break;
  }
  return false;
}

template <class Parser>
bool parser_agrees(const ResponsePlan& plan, const Parser& p) {
  if (plan.tunnel) return true;
  switch (plan.from_server) {
    case Framing::none:
      return p.is_done();
    case Framing::length:
      return !p.chunked() && p.content_length() == plan.length;
    case Framing::chunked:
      return p.chunked();
    case Framing::close:
      return !p.chunked() && !p.content_length() && p.need_eof();
  }
  return false;
}

// Chunked framing around a body piece, written in place: the relay reads each piece
// kChunkPrefix bytes into its buffer and leaves kChunkSuffix bytes free after it.
inline constexpr std::size_t kChunkPrefix = 16;  // "ffffffffffff\r\n" fits
inline constexpr std::size_t kChunkSuffix = 7;   // "\r\n" and the last chunk "0\r\n\r\n"
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Frames `size` bytes at `piece` (with the room above around it) for `framing`, adding
// the last chunk when `last`; returns the bytes to write. Length and close framings pass
// the piece through.
std::string_view frame_piece(char* piece, std::size_t size, Framing framing, bool last);

}  // namespace plextap::proxy
