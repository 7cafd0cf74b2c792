// The certificate of the https listeners of `serve` and `replay serve`: flags, checks,
// and the generated local CA when none is given.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "certs/credentials.hpp"
#include "certs/local_ca.hpp"

namespace plextap::app {

void add_listener_tls_flags(CLI::App& cmd, ListenerTlsFlags& f) {
  with_env(cmd.add_option("--tls-cert", f.cert, "PEM certificate chain for https listeners"));
  with_env(cmd.add_option("--tls-key", f.key, "PEM private key for --tls-cert"));
  with_env(cmd.add_option("--tls-p12", f.p12,
                          "PKCS#12 bundle (certificate, chain and key) for https listeners, "
                          "instead of --tls-cert and --tls-key"));
  with_env(cmd.add_option("--tls-p12-password", f.p12_password, "Password of --tls-p12"));
}

void apply_listener_tls(proxy::Config& config, const ListenerTlsFlags& f,
                        const std::filesystem::path& data_dir) {
  if (!f.p12.empty() && (!f.cert.empty() || !f.key.empty()))
    throw UsageError("--tls-p12 and --tls-cert/--tls-key exclude each other: give one of them");
  if (f.cert.empty() != f.key.empty()) throw UsageError("--tls-cert and --tls-key go together");
  if (f.p12.empty() && !f.p12_password.empty())
    throw UsageError("--tls-p12-password needs --tls-p12");
  config.tls_cert = f.cert;
  config.tls_key = f.key;
  config.tls_p12 = f.p12;
  config.tls_p12_password = f.p12_password;
  // A bad certificate, key or password is reported before anything is logged or written.
  if (!config.tls_cert.empty() || !config.tls_p12.empty())
    certs::load_credentials(
        {config.tls_cert, config.tls_key, config.tls_p12, config.tls_p12_password});
  bool any_tls =
      std::any_of(config.listen.begin(), config.listen.end(), [](const auto& e) { return e.tls; });
  if (any_tls && config.tls_cert.empty() && config.tls_p12.empty()) {
    certs::CertificateFiles files;
    try {
      files = certs::ensure_local_certificate(data_dir / "certs", certs::local_host_names());
    } catch (const std::exception& e) {
      const auto* fs_error = dynamic_cast<const std::filesystem::filesystem_error*>(&e);
      throw NoListenerCertificate("no certificate for the https:// listeners: cannot make one in " +
                                  (data_dir / "certs").string() + " (" +
                                  (fs_error ? fs_error->code().message() : e.what()) +
                                  "); give --tls-cert and --tls-key, or --tls-p12");
    }
    config.tls_cert = files.cert;
    config.tls_key = files.key;
    spdlog::info("TLS certificate {} (trust {} on clients)", files.cert.string(),
                 files.ca.string());
  }
}

}  // namespace plextap::app
