// `plextap check`: everything `serve` would use, checked without serving — the
// certificates, the upstream, the data directory and its store — and what serve would do,
// one line per item: ok, warn or fail. Nothing is written; the token is never printed.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "certs/certificate_info.hpp"
#include "certs/credentials.hpp"
#include "enrich/server_identity.hpp"
#include "net/http_client.hpp"
#include "sink/pg.hpp"
#include "store/store.hpp"

namespace plextap::app {
namespace {

namespace fs = std::filesystem;

// Certificates that expire sooner are warned about, as serve's log does.
constexpr auto kExpiryWarning = std::chrono::hours(24 * 30);

class Report {
 public:
  void ok(const char* item, const std::string& text) { line("ok", item, text); }
  void warn(const char* item, const std::string& text) { line("warn", item, text); }
  void fail(const char* item, const std::string& text) {
    failed_ = true;
    line("fail", item, text);
  }
  bool failed() const { return failed_; }

 private:
  static void line(const char* verdict, const char* item, const std::string& text) {
    std::printf("%-4s  %-12s %s\n", verdict, item, text.c_str());
  }
  bool failed_ = false;
};

void check_certificate_file(Report& report, const fs::path& file, X509* cert) {
  const auto info = certs::describe(cert);
  const auto now = std::chrono::system_clock::now();
  const auto days =
      std::chrono::duration_cast<std::chrono::hours>(info.not_after - now).count() / 24;
  const std::string what =
      file.string() + " (" + info.subject + ") expires " + certs::format_utc(info.not_after);
  if (info.not_after <= now)
    report.fail("certificate", what + ": expired");
  else if (info.not_after - now < kExpiryWarning)
    report.warn("certificate", what + ", in " + std::to_string(days) + " days");
  else
    report.ok("certificate", what + ", in " + std::to_string(days) + " days");
}

void check_listeners(Report& report, const ServePlan& plan) {
  bool any_tls = false;
  for (const auto& listener : plan.config.listen) {
    report.ok("listen", proxy::to_string(listener));
    any_tls = any_tls || listener.tls;
  }
  const auto& t = plan.listener_tls;
  fs::path file = !t.p12.empty() ? fs::path(t.p12) : fs::path(t.cert);
  try {
    // The flags' own checks (a usage error, exit 2) and the files they name loaded, with
    // no listener to make a certificate for.
    proxy::Config without_generation;
    apply_listener_tls(without_generation, t, plan.data);
    if (!any_tls) {
      report.ok("certificate", "none needed: no https:// listener");
      return;
    }
    if (!file.empty()) {
      auto credentials = certs::load_credentials({t.cert, t.key, t.p12, t.p12_password});
      check_certificate_file(report, file, credentials.cert.get());
      return;
    }
    file = plan.data / "certs" / "server.pem";
    if (!fs::exists(file)) {
      report.ok("certificate", "none given: serve makes a local CA and a certificate under " +
                                   (plan.data / "certs").string());
      return;
    }
    auto credentials = certs::read_certificate_file(file, "");
    if (!credentials.cert) throw std::runtime_error(file.string() + " holds no certificate");
    check_certificate_file(report, file, credentials.cert.get());
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    report.fail("certificate", e.what());
  }
}

void check_upstream(Report& report, const ServePlan& plan) {
  const std::string name = proxy::to_string(plan.config.upstream);
  if (plan.config.upstream_tls.insecure)
    report.warn("upstream-tls", "--upstream-insecure: the server's certificate is not verified");
  // One request each, bounded by the connect timeout, as a first connection of serve's is.
  const net::FetchTimeouts timeouts{plan.config.connect_timeout, plan.config.connect_timeout};
  std::unique_ptr<net::HttpClient> client;
  try {
    client = std::make_unique<net::HttpClient>(
        server_origin(plan.config.upstream, plan.config.upstream_tls), timeouts);
  } catch (const std::exception& e) {
    report.fail("upstream", name + ": " + e.what());
    return;
  }
  auto identity = client->get("/identity", {{"Accept", "application/xml"}});
  if (identity.status == 0) {
    report.fail("upstream", name + ": no answer to GET /identity: " + identity.error);
    return;
  }
  if (identity.status != 200) {
    report.fail("upstream",
                name + " answered GET /identity with " + std::to_string(identity.status));
    return;
  }
  const std::string version = enrich::identity_attribute(identity.body, "version");
  report.ok("upstream", name + " answers GET /identity" +
                            (version.empty() ? std::string() : " (version " + version + ")"));
  if (plan.plex_token.empty()) return;
  auto root = client->get("/", {{"Accept", "application/xml"}, {"X-Plex-Token", plan.plex_token}});
  if (root.status == 200)
    report.ok("token", "--plex-token accepted by the upstream (GET /)");
  else if (root.status == 401 || root.status == 403)
    report.fail("token", "--plex-token refused by the upstream: " + std::to_string(root.status) +
                             " on GET /");
  else if (root.status == 0)
    report.fail("token", "no answer to GET / with --plex-token: " + root.error);
  else
    report.warn("token", "GET / with --plex-token answered " + std::to_string(root.status));
}

// The directory serve would write: there and writable, or one it can make.
bool check_data_dir(Report& report, const fs::path& data) {
  std::error_code ec;
  if (fs::exists(data, ec)) {
    if (!fs::is_directory(data, ec)) {
      report.fail("data", data.string() + " is not a directory");
      return false;
    }
    if (::access(data.c_str(), W_OK | X_OK) != 0) {
      report.fail("data", data.string() + " is not writable");
      return false;
    }
    report.ok("data", data.string() + " exists and is writable");
    return true;
  }
  // The nearest directory that exists must let serve make the rest.
  fs::path parent = fs::absolute(data, ec).parent_path();
  while (!parent.empty() && !fs::exists(parent, ec) && parent != parent.root_path())
    parent = parent.parent_path();
  if (!fs::is_directory(parent, ec) || ::access(parent.c_str(), W_OK | X_OK) != 0) {
    report.fail("data", data.string() + " does not exist and cannot be created (" +
                            parent.string() + " is not a writable directory)");
    return false;
  }
  report.ok("data", data.string() + " does not exist yet; serve creates it");
  return true;
}

void check_store(Report& report, const ServePlan& plan) {
  const fs::path dir = plan.data / "store";
  if (!fs::exists(dir / "data.mdb")) {
    report.ok("store", "none yet: serve creates " + dir.string());
    return;
  }
  try {
    store::Store store(dir, true);
    report.ok("store",
              dir.string() + " opens, schema version " + std::to_string(store::kSchemaVersion));
  } catch (const std::exception& e) {
    report.fail("store", e.what());
  }
}

void check_sink(Report& report, const ServePlan& plan) {
  if (plan.sink.empty()) {
    report.ok("sink", "off (no --sink)");
    return;
  }
  try {
    sink::Connection db(plan.sink);
    report.ok("sink", sink::shown_url(plan.sink) + " accepts the connection");
  } catch (const std::exception& e) {
    report.fail("sink", e.what());
  }
}

std::string size_text(std::size_t bytes) {
  char out[32];
  const bool gib = bytes >= (std::size_t{1} << 30);
  std::snprintf(out, sizeof out, "%.1f %s",
                static_cast<double>(bytes) / static_cast<double>(gib ? (1 << 30) : (1 << 20)),
                gib ? "GiB" : "MiB");
  return out;
}

void what_serve_does(Report& report, const ServePlan& plan) {
  if (plan.record == "none")
    report.ok("recording", "none (--record none): forwarding only");
  else
    report.ok("recording", std::string(plan.record == "all" ? "all non-media exchanges"
                                                            : "the analytics calls (tapped)") +
                               ", store up to " + size_text(plan.store_max_size) +
                               ", queue up to " + size_text(plan.queue_bytes));
  // Enrichment and the server watch feed the store and speak with the token.
  const bool recording = plan.record != "none";
  auto with_token = [&](const char* item, bool wanted, const char* off_flag,
                        const std::string& on) {
    if (!recording)
      report.ok(item, "off: nothing is recorded");
    else if (!wanted)
      report.ok(item, std::string("off (") + off_flag + ")");
    else if (plan.plex_token.empty())
      report.ok(item, "off: no --plex-token (or PLEX_TOKEN) given");
    else
      report.ok(item, on);
  };
  with_token("enrichment", plan.enrich, "--no-enrich",
             "on, each fetch at most " + std::to_string(plan.enrich_timeout.count()) + " ms");
  with_token("server-watch", plan.server_watch, "--no-server-watch", "on");
  const auto& admin = plan.config.admin;
  report.ok("admin", admin.host + ":" + std::to_string(admin.port) +
                         (plan.config.admin_token.empty()
                              ? " (loopback only, no --admin-token)"
                              : " (dashboard and /api/ guarded by --admin-token)"));
}

}  // namespace

int run_check(const ServePlan& plan) {
  Report report;
  if (plan.config_file.empty())
    report.ok("config", "no --config file: flags, PLEXTAP_* variables and defaults");
  else
    report.ok("config", plan.config_file + " is valid");
  check_listeners(report, plan);
  check_upstream(report, plan);
  if (check_data_dir(report, plan.data) && plan.record != "none") check_store(report, plan);
  check_sink(report, plan);
  what_serve_does(report, plan);
  std::fflush(stdout);
  return report.failed() ? 1 : 0;
}

}  // namespace plextap::app
