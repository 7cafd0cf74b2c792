// plextap: the command line. Parses flags (also from PLEXTAP_* variables and a TOML
// config file), builds the parts and runs them; no logic of its own.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "app/config_file.hpp"
#include "app/version.hpp"

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

namespace {

// `plextap help [SUBCOMMAND...]` is `plextap [SUBCOMMAND...] --help`.
std::vector<std::string> arguments(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args.front() == "help") {
    args.erase(args.begin());
    args.push_back("--help");
  }
  return args;
}

// The first argument CLI11 could not place, for an error that names it.
std::string first_unknown(const CLI::App& app) {
  for (const auto& rest : app.remaining(true))
    if (rest.starts_with("-")) return rest;
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  plextap::app::journal_priorities_on_cerr();
  CLI::App app{"plextap: a recording reverse proxy for Plex Media Server", "plextap"};
  app.set_config("--config", "",
                 "TOML config file: a table per subcommand ([serve], [replay.send], ...), keys "
                 "as flags; unknown keys are refused");
  app.config_formatter(std::make_shared<plextap::app::StrictTomlConfig>(app));
  // --config (and --help) may follow the subcommand: `plextap serve --config F`.
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", plextap::app::version_line());

  std::map<std::string, plextap::app::Runner> runners{
      {"serve", plextap::app::add_serve(app)},   {"check", plextap::app::add_check(app)},
      {"export", plextap::app::add_export(app)}, {"stats", plextap::app::add_stats(app)},
      {"enrich", plextap::app::add_enrich(app)}, {"replay", plextap::app::add_replay(app)},
      {"certs", plextap::app::add_certs(app)},   {"report", plextap::app::add_report(app)},
      {"prune", plextap::app::add_prune(app)},   {"backup", plextap::app::add_backup(app)},
      {"sink", plextap::app::add_sink(app)},
  };
  app.add_subcommand("help", "The same as --help: plextap help [SUBCOMMAND]");

  auto args = arguments(argc, argv);
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const plextap::app::ConfigFileError& e) {
    std::cerr << "plextap: " << e.what() << "\n";
    return kExitUsage;
  } catch (const CLI::ParseError& e) {
    // An option no subcommand knows is named, whatever else is missing.
    if (auto unknown = first_unknown(app); !unknown.empty())
      std::cerr << "plextap: unknown option " << unknown << " (see plextap --help)\n";
    else
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
