// A stand-in server for framing tests that reads HTTP/1.1 the way a naive real server
// does, so that anything a proxy lets slip through is parsed, recorded and answered:
//   - a Transfer-Encoding field containing "chunked" anywhere (any case) means chunked;
//   - otherwise the first Content-Length field gives the body length (leading digits);
//   - Connection is ignored: every connection is kept until the script says otherwise.
// A second request hidden in a body therefore shows up here as a request of its own.
// Blocking sockets, a thread per connection, every wait bounded (at most kMaxHold, and
// stop() ends all of them within ~50 ms).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plextap::itest {

// One request as the lenient parser understood it.
struct ParsedRequest {
  std::string method;
  std::string target;
  std::string version;                                       // "HTTP/1.1"; empty if missing
  std::vector<std::pair<std::string, std::string>> headers;  // in arrival order, values trimmed
  std::string body;                                          // decoded (chunked) or as sent
  std::string raw;               // the bytes it was parsed from, framing included
  bool complete = true;          // false: the peer closed before the body ended
  std::uint64_t connection = 0;  // 1, 2, ... in accept order
  std::size_t nth = 0;           // 1-based position on its connection
  std::chrono::steady_clock::time_point received_at;

  // The first value of `name` (any letter case); empty if absent.
  std::string header(std::string_view name) const;
  // Every value of `name`, one per field, in order.
  std::vector<std::string> values(std::string_view name) const;
  std::size_t count(std::string_view name) const { return values(name).size(); }
  // The target without its query.
  std::string path() const;
};

class RawUpstream {
 public:
  using Clock = std::chrono::steady_clock;
  // The longest any hold or event stream lasts, peer or not.
  static constexpr std::chrono::milliseconds kMaxHold{15'000};

  // What the server does with one request: the writes in order (each after its pause;
  // a pause ends early, and the rest is dropped, when the peer closes), then `then`.
  struct Action {
    struct Write {
      std::chrono::milliseconds after{0};
      std::string bytes;
    };
    enum class Then {
      keep,    // read the next request on this connection
      close,   // close the connection (with no writes: close without answering)
      events,  // write `event` every `every` until the peer closes (server-sent events)
      hold,    // write nothing more; wait until the peer closes (a long poll)
    };
    std::vector<Write> writes;
    Then then = Then::keep;
    std::string event;
    std::chrono::milliseconds every{1000};

    // `bytes` at once, then `then`.
    static Action send(std::string bytes, Then then = Then::keep);
    // `bytes` after `delay` (an answer that takes its time).
    static Action send_after(std::chrono::milliseconds delay, std::string bytes,
                             Then then = Then::keep);
    // Reads the request and closes without a byte of answer.
    static Action close_silently();
    // `head` (a response head, maybe with a first event), then `event` every `every`.
    static Action events(std::string head, std::string event, std::chrono::milliseconds every);
    // `head` (may be empty: no answer at all yet), then waits for the peer to leave.
    static Action hold(std::string head = {});
    // Appends a write `after` the previous one.
    Action& then_send(std::chrono::milliseconds after, std::string bytes);
  };

  // Called on the connection's thread for every request parsed; `connection` and `nth`
  // are the request's own (given apart for brevity). Must not block.
  using Script =
      std::function<Action(const ParsedRequest&, std::uint64_t connection, std::size_t nth)>;

  struct ConnectionRecord {
    std::uint64_t id = 0;
    Clock::time_point accepted_at;
    // When the peer closed (FIN or reset), as seen by this side; empty while it has not.
    std::optional<Clock::time_point> peer_closed_at;
    bool closed_by_server = false;  // the script closed it (or stop() did)
    std::string received;           // every byte read on it (capped at 1 MiB)
  };

  RawUpstream();   // listening on 127.0.0.1:0 once constructed
  ~RawUpstream();  // stop()
  RawUpstream(const RawUpstream&) = delete;
  RawUpstream& operator=(const RawUpstream&) = delete;

  std::uint16_t port() const;
  // Replaces the script; an empty one restores the default answer (echo()).
  void script(Script s);
  // The default answer: 200, a text body naming the method, target, connection and
  // position ("GET /x on connection 2, request 1"), a correct Content-Length, keep-alive.
  // HEAD gets the same head and no body.
  static Action echo(const ParsedRequest& req);
  static std::string echo_body(const ParsedRequest& req);

  std::vector<ParsedRequest> requests() const;
  std::vector<ParsedRequest> requests_to(std::string_view path) const;
  std::size_t count(std::string_view path) const;
  std::vector<ConnectionRecord> connections() const;
  std::optional<ConnectionRecord> connection(std::uint64_t id) const;
  std::uint64_t connections_accepted() const;
  // Waits until at least `n` requests were parsed.
  bool wait_requests(std::size_t n, std::chrono::milliseconds limit) const;
  // Waits until the peer of connection `id` closed it; its time if it did within `limit`.
  std::optional<Clock::time_point> wait_peer_closed(std::uint64_t id,
                                                    std::chrono::milliseconds limit) const;
  // Everything above, printable: what a failing test should show.
  std::string describe() const;

  // Closes the listener and every connection, and joins all threads.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Printable form of bytes: CR, LF and other control bytes escaped, long input cut.
std::string escape_bytes(std::string_view bytes, std::size_t max = 2000);

}  // namespace plextap::itest
