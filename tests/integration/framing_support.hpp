// What the framing tests share: plextap on one I/O thread (one upstream pool for every
// client) in front of the lenient RawUpstream, a raw client that reads responses strictly
// by their framing, and the steps of the usual attack: client A's crafted request, then
// client B's ordinary `GET /b-marker` on a connection of its own, which must get its own
// answer and nothing else.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/integration/process.hpp"
#include "tests/integration/raw_upstream.hpp"

namespace plextap::itest {

// A response as Wire::read_response took it off the wire.
struct WireResponse {
  bool complete = false;  // the head and the whole body (by its framing) arrived
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // de-chunked
  std::string raw;   // every byte it was read from

  std::string header(std::string_view name) const;  // the first value; empty if absent
  std::size_t count(std::string_view name) const;
};

// A plain TCP client for bytes no real client sends. Responses are read by their own
// framing, so whatever follows one stays in unread() for the next read, where it shows.
class Wire {
 public:
  explicit Wire(std::uint16_t port);  // throws std::system_error
  ~Wire();
  Wire(const Wire&) = delete;
  Wire& operator=(const Wire&) = delete;

  // Sends everything within 5 s; false if the peer closed or reset first.
  bool send(std::string_view bytes);
  // One response: the head, then the body by Content-Length, chunked coding or the close
  // (none after HEAD, 1xx, 204, 304). Incomplete if it has not all come within `limit`;
  // then what did come is in `raw`.
  WireResponse read_response(std::chrono::milliseconds limit, bool head_request = false);
  // Reads until `needle` is among the unread bytes (true), the peer closes or `limit` passes.
  bool read_until(std::string_view needle, std::chrono::milliseconds limit);
  // Reads until the peer closes or resets (true) or `limit` passes.
  bool closed_within(std::chrono::milliseconds limit);
  const std::string& unread() const { return buf_; }
  // Closes the socket at once (a FIN).
  void close();

 private:
  enum class Fill { data, closed, timeout };
  Fill fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string buf_;
  bool peer_closed_ = false;
};

// Parts of hostile requests and answers.
inline constexpr std::string_view kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
inline constexpr std::string_view kStolen = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSTOLEN!";
// `data` as one chunk of a chunked body.
std::string chunk(std::string_view data);

class FramingTest : public ::testing::Test {
 protected:
  FramingTest();
  // On failure: everything the upstream received, and what plextap said.
  void TearDown() override;

  // `plextap serve --threads 1` against the raw upstream, plus `extra`.
  void start(std::vector<std::string> extra = {});
  std::uint16_t http_port() const { return proxy->http_port(); }

  // Client B: `GET /b-marker` on a new connection must get its own answer (and nothing
  // after it). Returns the upstream connection it travelled on (0 if none).
  std::uint64_t expect_b_gets_its_own_answer();
  // A's answer to a request the proxy must refuse: one of `statuses`, then (if `closes`)
  // the connection closed by the proxy.
  void expect_refused(Wire& a, const std::vector<int>& statuses, bool closes = true);
  // The upstream parsed no request but these targets (nothing smuggled, nothing refused).
  void expect_upstream_saw_only(std::initializer_list<std::string_view> targets);
  // The upstream connection that carried `path` (0 if none did).
  std::uint64_t connection_of(std::string_view path) const;

  RawUpstream upstream;  // declared first: destroyed after plextap
  std::unique_ptr<PlextapProcess> proxy;
};

}  // namespace plextap::itest
