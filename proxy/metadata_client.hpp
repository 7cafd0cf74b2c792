// Fetches item metadata from the Plex server for enrichment: a small HTTP client, one
// connection per fetch, run on a private io_context by the calling thread. Each fetch has
// a total deadline (connect, TLS handshake, request and the whole answer) and a shorter
// progress timeout; cancel() ends fetches in progress from another thread at once, so
// that shutdown never waits for a slow server. The token is sent as a header, never
// logged. Speaks TLS to an https upstream, verified as the proxy's own connections are.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "enrich/enricher.hpp"
#include "proxy/config.hpp"

namespace boost::asio {
class io_context;
}

namespace plextap::proxy {

struct FetchTimeouts {
  // Everything one fetch may take, from connect to the last byte of the answer.
  std::chrono::milliseconds total{30'000};
  // How long the server may send nothing that moves the answer forward.
  std::chrono::milliseconds progress{20'000};
};

class MetadataClient final : public enrich::MetadataSource {
 public:
  // Throws std::runtime_error when the upstream's CA file cannot be read.
  MetadataClient(Endpoint upstream, UpstreamTlsOptions tls, std::string token,
                 FetchTimeouts timeouts = {});
  ~MetadataClient() override;
  enrich::FetchResult fetch(const std::string& rating_key) override;
  enrich::FetchResult fetch_sessions() override;
  // From any thread: ends the fetches in progress (they return `cancelled`) and makes
  // every later one return at once. Nothing waits for the server.
  void cancel();

 private:
  enrich::FetchResult get(const std::string& target);
  struct Tls;
  Endpoint upstream_;
  std::unique_ptr<Tls> tls_;  // null for an http:// upstream
  std::string token_;
  FetchTimeouts timeouts_;
  std::mutex mutex_;  // guards the two below
  bool cancelled_ = false;
  std::vector<boost::asio::io_context*> running_;  // one per fetch in progress
};

}  // namespace plextap::proxy
