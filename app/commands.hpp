// The subcommands: each registers its flags on the CLI and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

#include "net/http_client.hpp"
#include "proxy/config.hpp"

namespace plextap::app {

// Every flag can also come from PLEXTAP_<FLAG>: --upstream-ca -> PLEXTAP_UPSTREAM_CA.
CLI::Option* with_env(CLI::Option* opt);

using Runner = std::function<int()>;

// Each adds its subcommand to `app` and returns what runs it (after parsing).
Runner add_serve(CLI::App& app);
Runner add_export(CLI::App& app);
Runner add_stats(CLI::App& app);
Runner add_enrich(CLI::App& app);
Runner add_replay(CLI::App& app);
Runner add_certs(CLI::App& app);
Runner add_report(CLI::App& app);
// `check`: serve's flags (registered by serve.cpp, the one list of them), run_check's run.
Runner add_check(CLI::App& app);
Runner add_prune(CLI::App& app);
Runner add_backup(CLI::App& app);
Runner add_sink(CLI::App& app);

// --tls-cert, --tls-key, --tls-p12, --tls-p12-password: the certificate of the https
// listeners, for every command that has them (serve, replay serve).
struct ListenerTlsFlags {
  std::string cert, key, p12, p12_password;
};
void add_listener_tls_flags(CLI::App& cmd, ListenerTlsFlags& flags);
// Puts the flags into `config` (a UsageError when they contradict each other), loads what
// they name so that a bad file, key or password fails now (one line, exit 1), and when
// https listeners have no certificate, generates one under `data_dir`/certs (or reuses
// the one there): NoListenerCertificate when that directory cannot be made or written.
struct NoListenerCertificate : std::runtime_error {
  using std::runtime_error::runtime_error;
};
void apply_listener_tls(proxy::Config& config, const ListenerTlsFlags& flags,
                        const std::filesystem::path& data_dir);

// --upstream-ca, --upstream-sni, --upstream-insecure: for every command that talks to
// the server (serve, enrich).
struct UpstreamTlsFlags {
  std::string ca, sni;
  bool insecure = false;
};
void add_upstream_tls_flags(CLI::App& cmd, UpstreamTlsFlags& flags);
// The options for `upstream`; a UsageError for flags that contradict it or each other.
proxy::UpstreamTlsOptions upstream_tls_options(const proxy::Endpoint& upstream,
                                               const UpstreamTlsFlags& flags);
// The server as the outbound client addresses it: `upstream` spoken to with `tls`.
net::Origin server_origin(const proxy::Endpoint& upstream, const proxy::UpstreamTlsOptions& tls);

// What `serve` would run with, as `check` validates it without serving.
struct ServePlan {
  std::string config_file;  // the --config file it was read from, "" for none
  proxy::Config config;     // listeners, upstream and its TLS, admin, timeouts
  ListenerTlsFlags listener_tls;
  std::filesystem::path data;
  std::string record;  // tapped, all, none
  std::string plex_token;
  bool enrich = true, server_watch = true;
  std::size_t store_max_size = 0, queue_bytes = 0;
  std::chrono::milliseconds enrich_timeout{0};
  std::string sink;  // PostgreSQL URL; empty: none
};
// Prints one line per item (ok, warn, fail); 0 when nothing failed, 1 otherwise.
int run_check(const ServePlan& plan);

}  // namespace plextap::app
