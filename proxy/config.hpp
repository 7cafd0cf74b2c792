// What `plextap serve` needs to know to forward: listeners, upstream, timeouts, logs.
// Plain data, filled by app/ from flags, environment and config file.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace plextap::proxy {

struct Endpoint {
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
};

// Parses "https://0.0.0.0:32443", "http://[::1]:8080", "http://host" (port from scheme).
// Throws std::invalid_argument with a message fit for the user.
Endpoint parse_endpoint_url(const std::string& url);
// Parses "127.0.0.1:32480" or "[::1]:32480" (no scheme).
Endpoint parse_host_port(const std::string& text);
std::string to_string(const Endpoint& e);

// How to speak TLS to an https:// upstream.
struct UpstreamTlsOptions {
  std::filesystem::path ca_file;  // PEM; empty: the system's trusted CAs
  std::string server_name;        // sent as SNI and verified; empty: the upstream's host
  bool insecure = false;          // accept any certificate
};

struct Config {
  std::vector<Endpoint> listen;
  Endpoint upstream;
  UpstreamTlsOptions upstream_tls;
  Endpoint admin;
  std::filesystem::path tls_cert;  // PEM chain; empty with tls_key empty: generated
  std::filesystem::path tls_key;
  std::filesystem::path tls_p12;  // PKCS#12 bundle instead of tls_cert and tls_key
  std::string tls_p12_password;
  unsigned threads = 0;  // 0: one per core
  std::chrono::milliseconds header_timeout{30'000};
  std::chrono::milliseconds body_timeout{60'000};  // request body without progress -> 408
  std::chrono::milliseconds keepalive_timeout{75'000};
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds upstream_timeout{120'000};  // request sent -> response head
  std::chrono::milliseconds drain_timeout{10'000};
  std::chrono::milliseconds upstream_idle_timeout{30'000};  // pooled connection unused
  std::size_t upstream_max_connections = 256;               // open and connecting, over all threads
  std::size_t max_header_bytes = 64 * 1024;
  std::string access_log;  // empty: none; "-": stdout; else a file
  bool json_logs = false;
};

}  // namespace plextap::proxy
