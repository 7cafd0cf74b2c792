// Learns which Plex server the store records: its machineIdentifier, from `GET /identity`
// (answered without a token), kept in the store's meta table as "server_id" so that the
// sink can tag every row it replicates (DESIGN.md section 13). Asked at start, retried with
// back-off until the server answers, and asked again now and then: the upstream may be
// pointed at another server between runs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "net/http_client.hpp"
#include "store/store.hpp"

namespace plextap::enrich {

// The value of the attribute `name` of an /identity answer's MediaContainer (XML, or the
// JSON form); empty when it has none.
std::string identity_attribute(std::string_view body, std::string_view name);

class ServerIdentity {
 public:
  // Throws std::runtime_error when the server's CA file cannot be read.
  ServerIdentity(store::Store& store, net::Origin server, net::FetchTimeouts timeouts);
  ~ServerIdentity();
  ServerIdentity(const ServerIdentity&) = delete;
  ServerIdentity& operator=(const ServerIdentity&) = delete;

  void start();
  // Ends the request in progress and the thread. Idempotent.
  void stop();

  // One ask, on the caller's thread: true when the server named itself (and it is stored).
  bool learn();

 private:
  void loop();

  store::Store& store_;
  net::HttpClient client_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace plextap::enrich
