// plextap: the command line. Parses flags (also from PLEXTAP_* variables and a TOML
// config file), builds the parts and runs them; no logic of its own.
#include <CLI/CLI.hpp>
#include <iostream>
#include <map>

#include "app/cli.hpp"
#include "app/commands.hpp"

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

}  // namespace

namespace plextap::app {

CLI::Option* with_env(CLI::Option* opt) {
  std::string name = opt->get_single_name();
  std::string env = "PLEXTAP_";
  for (char c : name) env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return opt->envname(env);
}

}  // namespace plextap::app

int main(int argc, char** argv) {
  CLI::App app{"plextap: a recording reverse proxy for Plex Media Server", "plextap"};
  app.set_config("--config", "",
                 "TOML config file (keys as flags, in [serve], [export], ... tables)");
  app.require_subcommand(1);
  app.set_version_flag("--version", "plextap 0.1.0");

  std::map<std::string, plextap::app::Runner> runners{
      {"serve", plextap::app::add_serve(app)},   {"export", plextap::app::add_export(app)},
      {"stats", plextap::app::add_stats(app)},   {"enrich", plextap::app::add_enrich(app)},
      {"replay", plextap::app::add_replay(app)}, {"certs", plextap::app::add_certs(app)},
      {"report", plextap::app::add_report(app)}, {"prune", plextap::app::add_prune(app)},
      {"backup", plextap::app::add_backup(app)},
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "plextap: " << e.what() << " (see plextap --help)\n";
    return kExitUsage;
  }

  const std::string chosen = app.get_subcommands().front()->get_name();
  try {
    return runners.at(chosen)();
  } catch (const plextap::app::UsageError& e) {
    std::cerr << "plextap: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "plextap " << chosen << ": " << e.what() << "\n";
    return kExitRuntime;
  }
}
