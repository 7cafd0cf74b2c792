// A websocket client for long-lived server feeds (the Plex notification websocket), over
// plain TCP or TLS on certs/client_tls like net/http_client. This header is free of Asio
// and Beast.
//
// WebsocketClient::run: connects, upgrades, and hands every text message to the caller
// until the server closes, the connection fails or goes quiet, or cancel() is called from
// another thread. Connecting and the upgrade each have a timeout; a silent connection is
// pinged, and one that answers nothing within the idle timeout counts as failed. Messages
// are bounded in size.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/http_client.hpp"

namespace plextap::net {

struct WebsocketTimeouts {
  std::chrono::milliseconds connect{10'000};  // resolve, connect, TLS and upgrade
  std::chrono::milliseconds idle{60'000};     // nothing heard (pings unanswered)
  std::size_t max_message = std::size_t{1} << 20;
};

struct WebsocketEnd {
  bool upgraded = false;  // the connection was open (messages may have come)
  unsigned status = 0;    // the HTTP status of a refused upgrade (401, 404, …); 0 otherwise
  std::string error;      // "what failed: why"; empty when the server closed normally
  bool cancelled = false;
};

class WebsocketClient {
 public:
  // Throws std::runtime_error when the origin's CA file cannot be read.
  WebsocketClient(Origin origin, WebsocketTimeouts timeouts = {});
  ~WebsocketClient();
  WebsocketClient(const WebsocketClient&) = delete;
  WebsocketClient& operator=(const WebsocketClient&) = delete;

  // Blocks the calling thread for one connection. `on_open` runs once the upgrade
  // succeeded, `on_text` for each text message (binary ones are skipped); both on the
  // calling thread.
  WebsocketEnd run(const std::string& target, const Fields& fields,
                   const std::function<void()>& on_open,
                   const std::function<void(std::string&&)>& on_text);
  // From any thread: ends the connection in progress and makes every later run() return
  // at once.
  void cancel();

 private:
  struct Tls;
  Origin origin_;
  std::unique_ptr<Tls> tls_;
  WebsocketTimeouts timeouts_;
  RunningCalls calls_;
};

}  // namespace plextap::net
