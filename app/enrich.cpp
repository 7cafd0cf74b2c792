// `plextap enrich`: one catch-up enrichment pass over the store, then exit.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "enrich/enricher.hpp"
#include "enrich/server_client.hpp"
#include "proxy/config.hpp"
#include "store/store.hpp"
#include "store/writer.hpp"

namespace plextap::app {
namespace {

struct EnrichFlags {
  std::string data = "./plextap-data";
  std::string upstream = "http://127.0.0.1:32400";
  UpstreamTlsFlags upstream_tls;
  std::string plex_token;
  std::string ttl = "24h";
  std::string timeout = "30s";
  unsigned concurrency = 2;
  bool refresh = false;
};

int run(const EnrichFlags& f) {
  setup_logging(false);
  proxy::Endpoint upstream;
  try {
    upstream = proxy::parse_endpoint_url(f.upstream);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  auto tls = upstream_tls_options(upstream, f.upstream_tls);
  if (f.plex_token.empty()) throw UsageError("enrich needs --plex-token (or PLEX_TOKEN)");
  enrich::FetchTimeouts timeouts;
  timeouts.total = parse_duration(f.timeout, "--timeout");
  if (timeouts.total.count() <= 0) throw UsageError("--timeout must be above 0");
  store::Store store(std::filesystem::path(f.data) / "store", false);
  store::Writer writer(store, {});
  enrich::ServerClient source(server_origin(upstream, tls), f.plex_token, timeouts);
  enrich::Enricher::Options options;
  options.ttl = parse_duration(f.ttl, "--ttl");
  options.concurrency = f.concurrency;
  options.refresh = f.refresh;
  enrich::Enricher enricher(store, writer, source, options);
  std::atomic<bool> stop{false};
  enricher.run_once(stop);
  const auto& c = enricher.counters();
  std::printf("fetched %llu, not found %llu, failed %llu\n",
              static_cast<unsigned long long>(c.fetched.load()),
              static_cast<unsigned long long>(c.not_found.load()),
              static_cast<unsigned long long>(c.failed.load()));
  return c.failed.load() ? 1 : 0;
}

}  // namespace

net::Origin server_origin(const proxy::Endpoint& upstream, const proxy::UpstreamTlsOptions& tls) {
  return {upstream.tls, upstream.host, upstream.port, tls.ca_file, tls.server_name, !tls.insecure};
}

Runner add_enrich(CLI::App& app) {
  auto f = std::make_shared<EnrichFlags>();
  auto* cmd = app.add_subcommand("enrich", "Fetch metadata for recorded items once, then exit");
  with_env(cmd->add_option("--data", f->data, "Data directory")->capture_default_str());
  with_env(
      cmd->add_option("--upstream", f->upstream, "Plex Media Server URL")->capture_default_str());
  add_upstream_tls_flags(*cmd, f->upstream_tls);
  with_env(cmd->add_option("--plex-token", f->plex_token, "Plex token"))->envname("PLEX_TOKEN");
  with_env(
      cmd->add_option("--ttl", f->ttl, "Refetch items older than this")->capture_default_str());
  with_env(cmd->add_option("--timeout", f->timeout,
                           "Time one fetch may take, connect to last byte (else it failed)")
               ->capture_default_str());
  with_env(
      cmd->add_option("--concurrency", f->concurrency, "Fetches at once")->capture_default_str());
  with_env(cmd->add_flag("--refresh", f->refresh, "Fetch every item again, whatever its age"));
  return [f] { return run(*f); };
}

}  // namespace plextap::app
