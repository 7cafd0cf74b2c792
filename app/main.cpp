// plextap: the command line. Parses flags (also from PLEXTAP_* variables and a TOML
// config file), builds the parts and runs them; no logic of its own.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <optional>

#include "app/cli.hpp"
#include "capture/tap.hpp"
#include "certs/local_ca.hpp"
#include "proxy/config.hpp"
#include "proxy/server.hpp"

namespace {

using plextap::app::UsageError;

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

// Every flag can also come from PLEXTAP_<FLAG>: --upstream-ca -> PLEXTAP_UPSTREAM_CA.
CLI::Option* with_env(CLI::Option* opt) {
  std::string name = opt->get_single_name();
  std::string env = "PLEXTAP_";
  for (char c : name) env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return opt->envname(env);
}

struct ServeFlags {
  std::vector<std::string> listen{"https://0.0.0.0:32443"};
  std::string upstream = "http://127.0.0.1:32400";
  std::string data = "./plextap-data";
  std::string admin = "127.0.0.1:32480";
  std::string record = "tapped";
  std::string tls_cert, tls_key, tls_p12, tls_p12_password;
  std::string upstream_ca, upstream_sni;
  bool upstream_insecure = false;
  std::string plex_token;
  bool no_enrich = false;
  std::string access_log;
  std::string log_format = "text";
  unsigned threads = 0;
  std::string header_timeout = "30s", keepalive_timeout = "75s", upstream_timeout = "120s",
              connect_timeout = "10s", drain_timeout = "10s", upstream_idle_timeout = "30s";
};

void add_serve(CLI::App& app, ServeFlags& f) {
  auto* serve = app.add_subcommand("serve", "Forward Plex traffic to the server and record it");
  with_env(serve->add_option("--listen", f.listen,
                             "Listener URL, repeatable (https:// or http://)")
               ->capture_default_str()
               ->delimiter(','));
  with_env(serve->add_option("--upstream", f.upstream, "Plex Media Server URL")->capture_default_str());
  with_env(serve->add_option("--data", f.data, "Data directory (store, secret, generated certificates)")
               ->capture_default_str());
  with_env(serve->add_option("--admin", f.admin, "Admin listener HOST:PORT for /metrics, /healthz, /readyz")
               ->capture_default_str());
  with_env(serve->add_option("--record", f.record, "What to record: tapped calls, or all non-media exchanges")
               ->check(CLI::IsMember({"tapped", "all"}))
               ->capture_default_str());
  with_env(serve->add_option("--tls-cert", f.tls_cert, "PEM certificate chain for https listeners"));
  with_env(serve->add_option("--tls-key", f.tls_key, "PEM private key for --tls-cert"));
  with_env(serve->add_option("--tls-p12", f.tls_p12, "PKCS#12 bundle for https listeners"));
  with_env(serve->add_option("--tls-p12-password", f.tls_p12_password, "Password of --tls-p12"));
  with_env(serve->add_option("--upstream-ca", f.upstream_ca, "PEM CA to verify an https upstream"));
  with_env(serve->add_flag("--upstream-insecure", f.upstream_insecure,
                           "Do not verify an https upstream's certificate"));
  with_env(serve->add_option("--upstream-sni", f.upstream_sni, "TLS server name for an https upstream"));
  with_env(serve->add_option("--plex-token", f.plex_token, "Plex token for enrichment"))
      ->envname("PLEX_TOKEN");
  with_env(serve->add_flag("--no-enrich", f.no_enrich, "Do not fetch metadata for recorded items"));
  with_env(serve->add_option("--access-log", f.access_log, "Access log file, or - for standard output"));
  with_env(serve->add_option("--log-format", f.log_format, "Log format")
               ->check(CLI::IsMember({"text", "json"}))
               ->capture_default_str());
  with_env(serve->add_option("--threads", f.threads, "I/O threads (0: one per core)")
               ->capture_default_str());
  with_env(serve->add_option("--header-timeout", f.header_timeout,
                             "Time a client has to send a request head")
               ->capture_default_str());
  with_env(serve->add_option("--keepalive-timeout", f.keepalive_timeout,
                             "Idle time before a keep-alive client connection is closed")
               ->capture_default_str());
  with_env(serve->add_option("--upstream-timeout", f.upstream_timeout,
                             "Time the server has to start answering (else 504)")
               ->capture_default_str());
  with_env(serve->add_option("--connect-timeout", f.connect_timeout, "Upstream connect timeout")
               ->capture_default_str());
  with_env(serve->add_option("--upstream-idle-timeout", f.upstream_idle_timeout,
                             "Idle time before a pooled upstream connection is closed")
               ->capture_default_str());
  with_env(serve->add_option("--drain-timeout", f.drain_timeout,
                             "On SIGTERM, how long requests in flight may take to finish")
               ->capture_default_str());
}

void not_yet(const std::string& what, bool given) {
  if (given) throw UsageError(what + " is not available yet");
}

int run_serve(const ServeFlags& f) {
  plextap::app::setup_logging(f.log_format == "json");
  not_yet("--tls-p12", !f.tls_p12.empty());
  not_yet("--upstream-ca", !f.upstream_ca.empty());
  not_yet("--upstream-sni", !f.upstream_sni.empty());
  not_yet("--upstream-insecure", f.upstream_insecure);
  not_yet("--record all", f.record == "all");

  plextap::proxy::Config config;
  try {
    for (const auto& url : f.listen) config.listen.push_back(plextap::proxy::parse_endpoint_url(url));
    config.upstream = plextap::proxy::parse_endpoint_url(f.upstream);
    config.admin = plextap::proxy::parse_host_port(f.admin);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  not_yet("an https:// upstream", config.upstream.tls);
  if (f.tls_cert.empty() != f.tls_key.empty())
    throw UsageError("--tls-cert and --tls-key go together");
  config.header_timeout = plextap::app::parse_duration(f.header_timeout);
  config.keepalive_timeout = plextap::app::parse_duration(f.keepalive_timeout);
  config.upstream_timeout = plextap::app::parse_duration(f.upstream_timeout);
  config.connect_timeout = plextap::app::parse_duration(f.connect_timeout);
  config.upstream_idle_timeout = plextap::app::parse_duration(f.upstream_idle_timeout);
  config.drain_timeout = plextap::app::parse_duration(f.drain_timeout);
  config.threads = f.threads;
  config.access_log = f.access_log;
  config.json_logs = f.log_format == "json";

  std::filesystem::path data = f.data;
  std::filesystem::create_directories(data);
  ::chmod(data.c_str(), 0700);
  bool any_tls = std::any_of(config.listen.begin(), config.listen.end(),
                             [](const auto& e) { return e.tls; });
  if (!f.tls_cert.empty()) {
    config.tls_cert = f.tls_cert;
    config.tls_key = f.tls_key;
  } else if (any_tls) {
    auto files = plextap::certs::ensure_local_certificate(data / "certs",
                                                          plextap::certs::local_host_names());
    config.tls_cert = files.cert;
    config.tls_key = files.key;
    spdlog::info("TLS certificate {} (trust {} on clients)", files.cert.string(), files.ca.string());
  }

  plextap::capture::NullTap tap;  // recording arrives with the store
  plextap::proxy::Server server(config, tap);
  server.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plextap: a recording reverse proxy for Plex Media Server", "plextap"};
  app.set_config("--config", "", "TOML config file (keys as flags, in [serve], [export], ... tables)");
  app.require_subcommand(1);
  app.set_version_flag("--version", "plextap 0.1.0");

  ServeFlags serve_flags;
  add_serve(app, serve_flags);
  for (auto [name, help] : std::initializer_list<std::pair<const char*, const char*>>{
           {"export", "Export recorded events, plays, media or HAR"},
           {"enrich", "Fetch metadata for recorded items once, then exit"},
           {"replay", "Serve or re-send recorded traffic"},
           {"certs", "Create or inspect certificates"},
           {"stats", "Summarise the store"}}) {
    app.add_subcommand(name, help)->allow_extras();
  }

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

  try {
    auto* chosen = app.get_subcommands().front();
    if (chosen->get_name() == "serve") return run_serve(serve_flags);
    std::cerr << "plextap: '" << chosen->get_name() << "' is not available yet\n";
    return kExitUsage;
  } catch (const UsageError& e) {
    std::cerr << "plextap: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "plextap: " << e.what() << "\n";
    return kExitRuntime;
  }
}
