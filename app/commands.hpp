// The subcommands: each registers its flags on the CLI and runs when chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

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

}  // namespace plextap::app
