#include "enrich/server_client.hpp"

#include <utility>

namespace plextap::enrich {

ServerClient::ServerClient(net::Origin server, std::string token, FetchTimeouts timeouts)
    : name_(std::string(server.tls ? "https://" : "http://") +
            (server.host.find(':') != std::string::npos ? "[" + server.host + "]" : server.host) +
            ":" + std::to_string(server.port)),
      token_(std::move(token)),
      client_(std::move(server), timeouts) {}

FetchResult ServerClient::fetch(const std::string& rating_key) {
  return get("/library/metadata/" + rating_key +
             "?includeGuids=1&includeMarkers=1&includeChapters=1");
}

FetchResult ServerClient::fetch_sessions() {
  return get("/status/sessions");
}

FetchResult ServerClient::fetch_resources() {
  return get("/statistics/resources?timespan=6");
}

FetchResult ServerClient::fetch_root() {
  return get("/");
}

FetchResult ServerClient::get(const std::string& target) {
  net::Fields fields{{"Accept", "application/json"},
                     {"User-Agent", "plextap"},
                     {"X-Plex-Product", "plextap"},
                     {"X-Plex-Client-Identifier", "plextap-enricher"}};
  if (!token_.empty()) fields.emplace_back("X-Plex-Token", token_);
  auto answer = client_.get(target, fields);
  FetchResult result{answer.status, std::move(answer.body), std::move(answer.error),
                     answer.timed_out, answer.cancelled};
  if (result.status == 0 && !result.error.empty())
    result.error = "cannot fetch " + target + " from " + name_ + ": " + result.error;
  return result;
}

}  // namespace plextap::enrich
