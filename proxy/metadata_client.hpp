// Fetches item metadata from the Plex server for enrichment: a small blocking HTTP
// client, one connection per calling thread, with timeouts. The token is sent as a
// header, never logged.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "capture/enricher.hpp"
#include "proxy/config.hpp"

namespace plextap::proxy {

class MetadataClient final : public capture::MetadataSource {
 public:
  MetadataClient(Endpoint upstream, std::string token,
                 std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~MetadataClient() override;
  capture::FetchResult fetch(const std::string& rating_key) override;
  capture::FetchResult fetch_sessions() override;

 private:
  capture::FetchResult get(const std::string& target);
  Endpoint upstream_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace plextap::proxy
