// The config file: strict TOML mapped onto the flags of a command line shaped like
// plextap's (a table per subcommand, nested ones for replay, check reading [serve]).
#include "app/config_file.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "tests/unit/temp_dir.hpp"
#include "base/text_distance.hpp"

namespace plextap::app {
namespace {

struct Cli {
  CLI::App app{"test", "plextap"};
  std::string upstream = "http://127.0.0.1:32400", check_upstream, target;
  std::vector<std::string> listen;
  unsigned threads = 0;
  bool no_enrich = false;
  double speed = 1;
  CLI::App* serve;
  CLI::App* check;
  CLI::App* send;

  Cli() {
    app.set_config("--config");
    app.config_formatter(std::make_shared<StrictTomlConfig>(app));
    app.fallthrough();
    serve = app.add_subcommand("serve");
    serve->add_option("--upstream", upstream)->envname("PLEXTAP_TEST_UPSTREAM");
    serve->add_option("--listen", listen)->delimiter(',');
    serve->add_option("--threads", threads);
    serve->add_flag("--no-enrich", no_enrich);
    check = app.add_subcommand("check");
    check->add_option("--upstream", check_upstream);
    auto* replay = app.add_subcommand("replay");
    send = replay->add_subcommand("send");
    send->add_option("--target", target);
    send->add_option("--speed", speed);
    app.add_subcommand("help");
  }

  std::vector<CLI::ConfigItem> items(const std::string& toml) {
    return config_items(app, toml, "plextap.toml");
  }
  // The one-line error for `toml`, "" when it is accepted.
  std::string error(const std::string& toml) {
    try {
      items(toml);
    } catch (const ConfigFileError& e) {
      return e.what();
    }
    return {};
  }
};

TEST(ConfigFile, TablesBecomeTheFlagsOfTheirSubcommand) {
  Cli cli;
  auto items = cli.items(
      "[serve]\nupstream = \"http://10.0.0.2:32400\"\nlisten = [\"http://127.0.0.1:1\", "
      "\"https://0.0.0.0:2\"]\nthreads = 4\nno-enrich = true\n[replay.send]\ntarget = "
      "\"http://127.0.0.1:3\"\nspeed = 2.5\n");
  auto find = [&](const std::vector<std::string>& parents, const std::string& name) {
    for (const auto& i : items)
      if (i.parents == parents && i.name == name) return i.inputs;
    return std::vector<std::string>{"<missing>"};
  };
  EXPECT_EQ(find({"serve"}, "upstream"), std::vector<std::string>{"http://10.0.0.2:32400"});
  // check validates what serve would use: it reads [serve] too.
  EXPECT_EQ(find({"check"}, "upstream"), std::vector<std::string>{"http://10.0.0.2:32400"});
  EXPECT_EQ(find({"serve"}, "listen"),
            (std::vector<std::string>{"http://127.0.0.1:1", "https://0.0.0.0:2"}));
  EXPECT_EQ(find({"serve"}, "threads"), std::vector<std::string>{"4"});
  EXPECT_EQ(find({"serve"}, "no-enrich"), std::vector<std::string>{"true"});
  EXPECT_EQ(find({"replay", "send"}, "target"), std::vector<std::string>{"http://127.0.0.1:3"});
  EXPECT_EQ(find({"replay", "send"}, "speed"), std::vector<std::string>{"2.5"});
}

TEST(ConfigFile, AKeyOutsideItsTableNamesTheLineAndWhereItBelongs) {
  Cli cli;
  auto e = cli.error("# plextap\nupstream = \"http://10.0.0.2:32400\"\n[serve]\nthreads = 2\n");
  EXPECT_EQ(e.find("plextap.toml:2: "), 0u) << e;
  EXPECT_NE(e.find("'upstream'"), std::string::npos) << e;
  EXPECT_NE(e.find("[serve]"), std::string::npos) << e;
  // A serve flag under [replay.send] is refused the same way.
  e = cli.error("[replay.send]\ntarget = \"http://127.0.0.1:3\"\nthreads = 2\n");
  EXPECT_EQ(e.find("plextap.toml:3: "), 0u) << e;
  EXPECT_NE(e.find("belongs in [serve]"), std::string::npos) << e;
  // [replay] has no flags of its own.
  e = cli.error("[replay]\ntarget = \"x\"\n");
  EXPECT_NE(e.find("belongs in [replay.send]"), std::string::npos) << e;
}

TEST(ConfigFile, UnknownKeysAndTablesSuggestTheClosest) {
  Cli cli;
  auto e = cli.error("[serve]\n\nupstrem = \"http://10.0.0.2:32400\"\n");
  EXPECT_EQ(e, "plextap.toml:3: unknown key 'upstrem' in [serve] (did you mean 'upstream'?)");
  e = cli.error("[serv]\nupstream = \"x\"\n");
  EXPECT_EQ(e.find("plextap.toml:1: unknown table 'serv'"), 0u) << e;
  EXPECT_NE(e.find("did you mean 'serve'?"), std::string::npos) << e;
  // Nothing close: no suggestion, still the key and the line.
  e = cli.error("[serve]\nzzzzzzzzzz = 1\n");
  EXPECT_EQ(e, "plextap.toml:2: unknown key 'zzzzzzzzzz' in [serve]");
  // --help and --config are no keys; help and check have no table.
  EXPECT_NE(cli.error("[serve]\nhelp = true\n"), "");
  EXPECT_NE(cli.error("[check]\nupstream = \"x\"\n").find("did you mean 'serve'?"),
            std::string::npos);
  EXPECT_NE(cli.error("[help]\n"), "");
}

TEST(ConfigFile, WrongTypesAreRefused) {
  Cli cli;
  auto e = cli.error("[serve]\nthreads = \"4\"\n");
  EXPECT_EQ(e, "plextap.toml:2: key 'threads' in [serve] must be a whole number, not a string");
  e = cli.error("[serve]\nno-enrich = 1\n");
  EXPECT_EQ(e, "plextap.toml:2: key 'no-enrich' in [serve] must be true or false");
  e = cli.error("[serve]\nupstream = [\"a\", \"b\"]\n");
  EXPECT_EQ(e, "plextap.toml:2: key 'upstream' in [serve] takes one value, not an array");
  e = cli.error("[serve]\nupstream = true\n");
  EXPECT_EQ(e, "plextap.toml:2: key 'upstream' in [serve] must be a string, not true or false");
  EXPECT_NE(cli.error("[serve]\nthreads = -1\n"), "");
  EXPECT_NE(cli.error("[serve]\nthreads = 1.5\n"), "");
  EXPECT_NE(cli.error("[serve]\nlisten = [1, true]\n"), "");
  EXPECT_NE(cli.error("serve = 3\n"), "");
  // A number where text is expected is its text: sizes and durations may be bare numbers.
  EXPECT_EQ(cli.items("[serve]\nupstream = 5\n").back().inputs, std::vector<std::string>{"5"});
}

TEST(ConfigFile, SyntaxErrorsNameTheLine) {
  Cli cli;
  auto e = cli.error("[serve]\nthreads = 2\nupstream = \"unterminated\n");
  EXPECT_EQ(e.find("plextap.toml:3: syntax error at key 'upstream': "), 0u) << e;
  // A key given twice is an error in TOML, not the last one winning.
  e = cli.error("[serve]\nthreads = 2\nthreads = 3\n");
  EXPECT_EQ(e.find("plextap.toml:3: "), 0u) << e;
}

TEST(ConfigFile, TheEnvironmentWinsOverTheFile) {
  Cli cli;
  ::setenv("PLEXTAP_TEST_UPSTREAM", "http://from-env:1", 1);
  auto items = cli.items("[serve]\nupstream = \"http://from-file:1\"\nthreads = 3\n");
  ::unsetenv("PLEXTAP_TEST_UPSTREAM");
  for (const auto& i : items) EXPECT_NE(i.name, "upstream");
}

TEST(ConfigFile, ThroughTheParserTheCommandLineWinsAndConfigGoesAnywhere) {
  test_support::TempDir tmp;
  const auto file = tmp.path() / "plextap.toml";
  std::ofstream(file) << "[serve]\nupstream = \"http://from-file:1\"\nthreads = 3\n";
  {
    Cli cli;
    cli.app.parse(std::vector<std::string>{"7", "--threads", file.string(), "--config", "serve"});
    EXPECT_EQ(cli.threads, 7u);
    EXPECT_EQ(cli.upstream, "http://from-file:1");
  }
  {
    Cli cli;  // --config before the subcommand
    cli.app.parse(std::vector<std::string>{"serve", file.string(), "--config"});
    EXPECT_EQ(cli.threads, 3u);
  }
  {
    Cli cli;
    ::setenv("PLEXTAP_TEST_UPSTREAM", "http://from-env:1", 1);
    cli.app.parse(std::vector<std::string>{file.string(), "--config", "serve"});
    ::unsetenv("PLEXTAP_TEST_UPSTREAM");
    EXPECT_EQ(cli.upstream, "http://from-env:1");
  }
  std::ofstream(file) << "upstream = \"http://from-file:1\"\n";
  Cli cli;
  EXPECT_THROW(cli.app.parse(std::vector<std::string>{"serve", file.string(), "--config"}),
               ConfigFileError);
}

TEST(ConfigFile, EditDistance) {
  EXPECT_EQ(base::edit_distance("upstream", "upstream"), 0u);
  EXPECT_EQ(base::edit_distance("upstrem", "upstream"), 1u);
  EXPECT_EQ(base::edit_distance("listne", "listen"), 2u);
  EXPECT_EQ(base::edit_distance("", "abc"), 3u);
}

}  // namespace
}  // namespace plextap::app
