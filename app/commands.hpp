// The subcommands: each registers its flags on the CLI and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

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

}  // namespace plextap::app
