// Fetches item metadata from the Plex server for enrichment: a small blocking HTTP
// client, one connection per calling thread, with timeouts. The token is sent as a
// header, never logged. Speaks TLS to an https upstream, verified as the proxy's own
// connections are.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "capture/enricher.hpp"
#include "proxy/config.hpp"

namespace plextap::proxy {

class MetadataClient final : public capture::MetadataSource {
 public:
  // Throws std::runtime_error when the upstream's CA file cannot be read.
  MetadataClient(Endpoint upstream, UpstreamTlsOptions tls, std::string token,
                 std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~MetadataClient() override;
  capture::FetchResult fetch(const std::string& rating_key) override;
  capture::FetchResult fetch_sessions() override;

 private:
  capture::FetchResult get(const std::string& target);
  struct Tls;
  Endpoint upstream_;
  std::unique_ptr<Tls> tls_;  // null for an http:// upstream
  std::string token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace plextap::proxy
