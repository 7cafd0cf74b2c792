// Fetches item metadata and sessions from the Plex server for enrichment, over the shared
// outbound client (net/http_client: deadlines, progress timeout, cancel, TLS verified as
// the proxy's own upstream connections are). The token is sent as a header, never logged.
#pragma once

#include <string>

#include "enrich/enricher.hpp"
#include "net/http_client.hpp"

namespace plextap::enrich {

using net::FetchTimeouts;

class ServerClient final : public MetadataSource {
 public:
  // Throws std::runtime_error when the server's CA file cannot be read.
  ServerClient(net::Origin server, std::string token, FetchTimeouts timeouts = {});
  FetchResult fetch(const std::string& rating_key) override;
  FetchResult fetch_sessions() override;
  // For the server watch: the latest resource samples, and the server root (capabilities
  // and transcoder counts).
  FetchResult fetch_resources();
  FetchResult fetch_root();
  const std::string& name() const { return name_; }
  // From any thread: ends the fetches in progress (they return `cancelled`) and makes
  // every later one return at once. Nothing waits for the server.
  void cancel() { client_.cancel(); }

 private:
  FetchResult get(const std::string& target);
  std::string name_;  // the server, for messages: https://host:port
  std::string token_;
  net::HttpClient client_;
};

}  // namespace plextap::enrich
