// The server watch of `plextap serve` (DESIGN section 10): with a token, plextap also
// listens to the server itself, so that plays of clients that bypass the proxy are seen.
// It records the notification websocket's messages, /status/sessions snapshots (on every
// (re)connect, when a playing notification names a new session, and every 10 s while
// something plays) and /statistics/resources samples (every 60 s while something plays,
// every 15 min otherwise). Two threads of its own, never the proxy's I/O threads: one holds
// the websocket (reconnecting with back-off 1 s doubling to 60 s, reset after a minute
// connected; a refused token is logged once and retried every 60 s), the other turns
// messages into records and does the fetches. The token is sent as a header and never
// logged or stored.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "enrich/server_client.hpp"
#include "net/websocket_client.hpp"
#include "store/writer.hpp"

namespace plextap::enrich {

class ServerWatch {
 public:
  struct Options {
    std::chrono::milliseconds sessions_interval{10'000};
    std::chrono::milliseconds resources_playing{60'000};
    std::chrono::milliseconds resources_idle{15 * 60'000};
    std::chrono::milliseconds first_backoff{1'000};
    std::chrono::milliseconds max_backoff{60'000};
    std::chrono::milliseconds unauthorized_retry{60'000};
    std::chrono::milliseconds stable_after{60'000};  // connected this long: back-off resets
  };

  // Throws std::runtime_error when the server's CA file cannot be read.
  ServerWatch(store::Writer& writer, net::Origin server, std::string token,
              net::FetchTimeouts timeouts, Options options);
  ~ServerWatch();
  ServerWatch(const ServerWatch&) = delete;
  ServerWatch& operator=(const ServerWatch&) = delete;

  void start();
  // Cancels the I/O in progress and ends both threads; returns once they ended. Idempotent.
  void stop();
  // Prometheus text of the counters, for /metrics.
  std::string metrics_text() const;

 private:
  struct Item {
    bool opened = false;  // a (re)connect: catch up from /status/sessions
    std::string message;
  };

  void listen();  // the websocket thread
  void work();    // the records-and-fetches thread
  void handle_message(const std::string& message, std::chrono::steady_clock::time_point now);
  void fetch_sessions(std::chrono::steady_clock::time_point now);
  void sample_resources();
  void refused(const char* what);
  bool wait_for(std::chrono::milliseconds d);  // false when stopped

  store::Writer& writer_;
  std::string token_;
  Options options_;
  ServerClient client_;
  net::WebsocketClient websocket_;
  std::string server_name_;

  std::atomic<bool> stop_{false};
  std::mutex mutex_;  // guards queue_ and the waits
  std::condition_variable wake_;
  std::deque<Item> queue_;
  std::thread listener_, worker_;

  // Worker thread only.
  std::set<std::string> known_sessions_;
  bool playing_ = false;
  std::chrono::steady_clock::time_point next_sessions_{}, next_resources_{};

  struct Counters {
    std::atomic<std::uint64_t> connects{0}, disconnects{0}, unknown{0}, malformed{0},
        session_fetches{0}, resource_samples{0}, unauthorized{0}, failures{0}, events{0};
    std::atomic<int> connected{0};
    // From the latest /status/sessions snapshot: items playing (or paused), and those of
    // them whose video or audio the server transcodes.
    std::atomic<std::int64_t> plays{0}, transcodes{0};
  };
  Counters counters_;
  mutable std::mutex types_mutex_;
  std::map<std::string, std::uint64_t> messages_;  // by kept type
  std::atomic<bool> refusal_logged_{false};
};

}  // namespace plextap::enrich
