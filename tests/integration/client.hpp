// Clients of the proxy: HTTP and HTTPS over Beast, WebSocket over TLS, and raw TCP for
// bytes no well-behaved client would send. Every blocking call is bounded: a watchdog
// shuts the socket down when a client outlives its time limit, so a hung proxy fails
// the test instead of hanging it.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace plextap::itest {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using ResponseHead = http::response_header<>;

inline constexpr std::chrono::milliseconds kClientLimit{30'000};

class HttpClient {
 public:
  static std::unique_ptr<HttpClient> plain(std::uint16_t port,
                                           std::chrono::milliseconds limit = kClientLimit);
  // Verifies the proxy's certificate against `ca` for the name 127.0.0.1.
  static std::unique_ptr<HttpClient> tls(std::uint16_t port, const std::filesystem::path& ca,
                                         std::chrono::milliseconds limit = kClientLimit);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  bool is_tls() const;
  // "127.0.0.1:PORT": the Host header request() puts in.
  std::string host() const;
  // An HTTP/1.1 request with Host set.
  Request request(http::verb method, std::string target) const;

  // Writes `req` (prepare_payload first) and reads the whole response; throws
  // boost::system::system_error on any failure.
  Response send(Request req);
  void write(Request req);
  Response read(bool head_request = false);
  void write_raw(std::string_view bytes);
  // Sends the head with Expect: 100-continue, reads the interim answer into `interim`
  // (0 if a final answer came instead), then sends the body and reads the final answer.
  Response send_expect_continue(Request req, unsigned& interim);
  // Sends `req` and streams the response: `on_head` once, then `on_piece` for each
  // body piece as it arrives, until the body ends or `on_piece` returns false.
  ResponseHead stream(Request req, const std::function<void(const ResponseHead&)>& on_head,
                      const std::function<bool(std::string_view)>& on_piece);

  // True if the peer closes the connection within `limit`. Reads (and drops) bytes
  // below TLS, so the client is useless afterwards.
  bool closed_by_peer_within(std::chrono::milliseconds limit);
  // Closes the socket abruptly (no TLS close_notify).
  void close();
  bool watchdog_fired() const;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A WebSocket client over TLS.
class WsClient {
 public:
  WsClient(std::uint16_t port, const std::filesystem::path& ca, const std::string& target,
           std::chrono::milliseconds limit = kClientLimit);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  unsigned upgrade_status() const;
  std::string read();  // one message; throws on failure
  void write(const std::string& text);
  // Sends a close frame and waits for the peer's; returns the error, if any (the
  // WebSocket close handshake and then the TLS close).
  boost::system::error_code close();
  // The close code the peer sent back; 0 if no close frame arrived.
  unsigned close_code_received() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A plain TCP connection to 127.0.0.1 for malformed or slow input.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port);  // throws std::system_error
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Whether a TCP connection to the port is accepted (by the kernel) right now.
  static bool can_connect(std::uint16_t port);

  // Sends everything within 5 s; false if the peer closed or reset first.
  bool send(std::string_view bytes);
  struct Received {
    std::string data;
    bool closed = false;  // the peer closed or reset the connection
    std::chrono::milliseconds took{0};
  };
  // Reads until the peer closes or resets the connection, or `limit` passes.
  Received read_until_close(std::chrono::milliseconds limit);

 private:
  int fd_ = -1;
};

// A port nobody accepts connections on: bound, so no one else takes it, but not
// listening, so connecting to it is refused.
class DeadPort {
 public:
  DeadPort();
  ~DeadPort();
  DeadPort(const DeadPort&) = delete;
  DeadPort& operator=(const DeadPort&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace plextap::itest
