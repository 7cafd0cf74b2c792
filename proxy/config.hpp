// What `plextap serve` needs to know to forward: listeners, upstream, timeouts, logs.
// Plain data, filled by app/ from flags, environment and config file.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
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
// Whether `e` names only this machine: localhost, 127.0.0.0/8 or ::1. A name that must be
// resolved first (other than localhost) is not.
bool is_loopback(const Endpoint& e);

// The admin listener's seam for answers beyond /metrics, /healthz and /readyz (the
// dashboard): the proxy passes the request on and writes the answer, knowing nothing of
// what it holds. Called on the admin's I/O thread, so it must answer quickly, from memory.
struct AdminRequest {
  std::string_view method;  // "GET", "POST", …
  std::string_view target;  // origin-form (with an admin token, one naming it was redirected)
};
struct AdminAnswer {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Content-Disposition
};
using AdminRoutes = std::function<AdminAnswer(const AdminRequest&)>;

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
  // When set, every admin path but /metrics, /healthz and /readyz asks for it (admin.hpp).
  std::string admin_token;
  AdminRoutes admin_routes;        // empty: those paths answer 404
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
  // "plextap", "combined" or "json" (access_log.hpp); empty: json with json_logs, else plextap
  std::string access_log_format;
  bool json_logs = false;
};

}  // namespace plextap::proxy
