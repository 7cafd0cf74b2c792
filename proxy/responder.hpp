// The seam for answering requests without an upstream: `plextap replay serve` runs the
// same listeners, TLS, access log and admin endpoints as `serve`, and hands each request
// to a Responder instead of forwarding it. A Responder answers from memory, at once: it
// runs on the I/O threads and must never block.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/markup.hpp"
#include "capture/tap.hpp"

namespace plextap::proxy {

struct LocalRequest {
  std::string_view method;
  std::string_view target;
  std::span<const capture::Header> headers;
};

// A complete answer. `head` is the status line and the header fields, each line ending
// in CRLF, without framing (Content-Length, Transfer-Encoding) or Connection, which the
// session adds (see head_has_length); the blank line that ends the head is not included
// either.
struct LocalReply {
  unsigned status = 200;
  std::string head;
  std::string body;
  // The head carries its own Content-Length (a recorded answer to HEAD, whose length is
  // that of the body it does not send).
  bool head_has_length = false;
};

// The body of an answer given without the server (the proxy's own 400, 431, 502, 504, a
// Responder's 404): short XML in the shape Plex clients already parse for server errors.
inline std::string error_page(unsigned status, std::string_view reason) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response code=\"";
  out += std::to_string(status);
  out += "\" status=\"";
  base::append_markup_escaped(out, reason);
  out += "\" source=\"plextap\"/>\n";
  return out;
}

class Responder {
 public:
  virtual ~Responder() = default;
  // Shared so that recorded answers are served without a copy.
  virtual std::shared_ptr<const LocalReply> respond(const LocalRequest& request) = 0;
};

}  // namespace plextap::proxy
