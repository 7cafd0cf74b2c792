// The seam between forwarding and recording. The proxy calls a Tap for every request
// head and feeds each tapped exchange through a Recording; everything a Tap does must be
// quick and non-blocking, and it can never alter or fail what is forwarded.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace plextap::capture {

struct Header {
  std::string_view name;
  std::string_view value;
};

// Views into the proxy's own buffers: valid only during the call they are passed to.
struct RequestHead {
  std::string_view method;
  std::string_view target;
  std::span<const Header> headers;
  std::string_view remote_addr;
  std::chrono::system_clock::time_point arrived;
  bool tls = false;  // the client connected over TLS
};

struct ResponseHead {
  unsigned status = 0;
  std::span<const Header> headers;
};

// One exchange being recorded. Body chunks arrive as they are forwarded; the recording
// keeps what it needs (bounded) and hands the result off in finish().
class Recording {
 public:
  virtual ~Recording() = default;
  virtual void request_body(std::string_view chunk) = 0;
  virtual void response_head(const ResponseHead& head) = 0;
  virtual void response_body(std::string_view chunk) = 0;
  // `complete` is false when either side broke off before the exchange ended.
  virtual void finish(bool complete) = 0;
};

class Tap {
 public:
  virtual ~Tap() = default;
  // Called for every request, so it must be cheap: decides on method and target alone.
  virtual bool wants(std::string_view method, std::string_view target) const = 0;
  // Called only when wants() said yes. May return null (e.g. when the queue is full).
  virtual std::unique_ptr<Recording> open(const RequestHead& head) = 0;
  // False when recording is degraded (store unwritable, events being dropped).
  virtual bool healthy() const { return true; }
};

// A tap that records nothing: forwarding only.
class NullTap final : public Tap {
 public:
  bool wants(std::string_view, std::string_view) const override { return false; }
  std::unique_ptr<Recording> open(const RequestHead&) override { return nullptr; }
};

// A tap for a store that could not be opened: forwards everything, records nothing, and
// says so on /readyz.
class UnavailableTap final : public Tap {
 public:
  bool wants(std::string_view, std::string_view) const override { return false; }
  std::unique_ptr<Recording> open(const RequestHead&) override { return nullptr; }
  bool healthy() const override { return false; }
};

}  // namespace plextap::capture
