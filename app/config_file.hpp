// The --config file: strict TOML (toml++), checked key by key against the flags each
// subcommand registers, then handed to CLI11 as its config items. A key that names no
// flag, a key outside its table, a syntax error or a value of the wrong type stops the
// command with one line naming the file, the line and the key.
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plextap::app {

// "FILE:LINE: what is wrong", reported as it is on stderr, exit code 2.
struct ConfigFileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The config items of `text` (the contents of `file`, named in messages) for the
// subcommands of `app`: one table per subcommand ([serve], [replay.send], ...), its keys
// the long flag names without dashes. `check` reads [serve]. Keys whose flag's
// environment variable is set are left out, so the environment wins over the file.
// Throws ConfigFileError.
std::vector<CLI::ConfigItem> config_items(const CLI::App& app, std::string_view text,
                                          const std::string& file);

// CLI11's config reader replaced by config_items: set on `app` with
// app.config_formatter(std::make_shared<StrictTomlConfig>(app)).
class StrictTomlConfig final : public CLI::Config {
 public:
  explicit StrictTomlConfig(const CLI::App& app) : app_(app) {}
  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return {}; }
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

 private:
  const CLI::App& app_;
};

}  // namespace plextap::app
