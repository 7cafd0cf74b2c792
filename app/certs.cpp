// `plextap certs init` and `plextap certs show`: a local CA and a server certificate
// clients can be told to trust, and what any certificate file holds.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "certs/certificate_info.hpp"
#include "certs/credentials.hpp"
#include "certs/local_ca.hpp"

namespace plextap::app {
namespace {

namespace fs = std::filesystem;

struct CertsFlags {
  std::vector<std::string> hosts;
  std::string out = "./plextap-data/certs";
  std::string file;
  std::string password;
  std::string data = "./plextap-data";
};

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "(none)" : out;
}

std::string validity_left(std::chrono::system_clock::time_point not_after) {
  auto left = std::chrono::duration_cast<std::chrono::seconds>(not_after -
                                                               std::chrono::system_clock::now());
  long long days = left.count() / 86'400;
  if (left.count() < 0) return "expired " + std::to_string(-days) + " days ago";
  return std::to_string(days) + " days left";
}

void print_certificate(const certs::CertificateInfo& info) {
  std::printf("  subject:     %s\n", info.subject.c_str());
  std::printf("  names:       %s\n", joined(info.names).c_str());
  std::printf("  issuer:      %s%s\n", info.issuer.c_str(),
              info.issuer == info.subject ? " (self-signed)" : "");
  std::printf("  not before:  %s\n", certs::format_utc(info.not_before).c_str());
  std::printf("  not after:   %s (%s)\n", certs::format_utc(info.not_after).c_str(),
              validity_left(info.not_after).c_str());
  std::printf("  sha-256:     %s\n", info.sha256.c_str());
  std::printf("  key:         %s%s\n", info.key_type.c_str(), info.is_ca ? ", CA" : "");
}

int show(const CertsFlags& f) {
  fs::path file = f.file;
  if (file.empty()) {
    // What `serve` uses when no certificate is given.
    file = certs::local_certificate_files(fs::path(f.data) / "certs").cert;
    if (!fs::exists(file))
      throw std::runtime_error("no certificate at " + file.string() +
                               " yet (serve creates it on first start, or run plextap certs init)");
  }
  auto found = certs::read_certificate_file(file, f.password);
  std::vector<X509*> all;
  if (found.cert) all.push_back(found.cert.get());
  for (const auto& c : found.chain) all.push_back(c.get());
  std::printf("%s\n", file.string().c_str());
  for (std::size_t i = 0; i < all.size(); ++i) {
    std::printf("certificate %zu of %zu%s:\n", i + 1, all.size(), i == 0 ? "" : " (chain)");
    print_certificate(certs::describe(all[i]));
  }
  if (found.key) std::printf("private key: %s\n", certs::describe_key(found.key.get()).c_str());
  return 0;
}

// The address clients will use: the first name that is not this host's loopback.
std::string proxy_url(const std::vector<std::string>& hosts) {
  std::string host = hosts.empty() ? "localhost" : hosts.front();
  for (const auto& h : hosts)
    if (h != "localhost" && h != "::1" && !h.starts_with("127.")) {
      host = h;
      break;
    }
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "https://" + host + ":32443";
}

int init(const CertsFlags& f) {
  auto hosts = f.hosts.empty() ? certs::local_host_names() : f.hosts;
  const fs::path dir = f.out;
  auto issued = certs::issue_local_certificate(dir, hosts);
  const auto& files = issued.files;
  auto leaf = certs::read_certificate_file(files.cert, {});
  auto info = certs::describe(leaf.cert.get());
  const bool serve_default =
      fs::weakly_canonical(dir) == fs::weakly_canonical("plextap-data/certs");

  std::printf("%s a local CA in %s\n", issued.created_ca ? "Created" : "Reused", dir.c_str());
  std::printf("  %-12s the CA certificate: install it on every client\n",
              files.ca.filename().c_str());
  std::printf("  %-12s the CA's private key (mode 0600): keep it here, never copy it\n",
              files.ca_key.filename().c_str());
  std::printf("  %-12s certificate for %s, valid until %s\n", files.cert.filename().c_str(),
              joined(info.names).c_str(), certs::format_utc(info.not_after).c_str());
  std::printf("  %-12s its private key (mode 0600)\n", files.key.filename().c_str());
  if (!issued.created_ca)
    std::printf("Clients that already trust this CA trust the new certificate too.\n");

  const std::string ca = files.ca.string();
  std::printf(
      R"(
Trust the CA (%s) on each client:
  Debian/Ubuntu  sudo cp %s /usr/local/share/ca-certificates/plextap.crt
                 sudo update-ca-certificates
  macOS          sudo security add-trusted-cert -d -r trustRoot \
                   -k /Library/Keychains/System.keychain %s
  Windows        certutil -addstore -f Root %s   (in an administrator prompt)
  Android        Settings > Security > Encryption & credentials > Install a certificate >
                 CA certificate. Since Android 7 apps trust such CAs only if they opt in.
  iOS/iPadOS     open the file on the device (AirDrop, mail), install the profile under
                 Settings > General > VPN & Device Management, then turn it on under
                 Settings > General > About > Certificate Trust Settings.
  Firefox keeps its own store: Settings > Privacy & Security > Certificates > Import.
Where a client cannot be made to trust it, serve Plex's own certificate instead
(serve --tls-p12).

Point Plex clients at the proxy:
  1. Start it: plextap serve%s
     (a running serve picks up new files on SIGHUP)
  2. In the Plex server's settings, Network > Custom server access URLs, add
     %s
     (the proxy's address and port; comma-separated with any URLs already there).
     Clients try it alongside the server's own addresses.
)",
      ca.c_str(), ca.c_str(), ca.c_str(), ca.c_str(),
      serve_default
          ? ""
          : (" --tls-cert " + files.cert.string() + " --tls-key " + files.key.string()).c_str(),
      proxy_url(hosts).c_str());
  return 0;
}

}  // namespace

Runner add_certs(CLI::App& app) {
  auto f = std::make_shared<CertsFlags>();
  auto* cmd = app.add_subcommand("certs", "Create or inspect certificates");
  cmd->require_subcommand(1);
  auto* init_cmd = cmd->add_subcommand(
      "init", "Create a local CA and a server certificate signed by it, and say how to trust it");
  with_env(init_cmd
               ->add_option("--host", f->hosts,
                            "Name or address the certificate is for, repeatable (default: this "
                            "host's names and addresses)")
               ->delimiter(','));
  with_env(init_cmd->add_option("--out", f->out, "Directory for the files")->capture_default_str());
  auto* show_cmd = cmd->add_subcommand(
      "show", "Describe a PEM or PKCS#12 certificate file (default: the one serve uses)");
  show_cmd->add_option("FILE", f->file, "PEM or PKCS#12 file");
  with_env(show_cmd->add_option("--password", f->password, "Password of a PKCS#12 file"));
  with_env(
      show_cmd->add_option("--data", f->data, "Data directory serve uses")->capture_default_str());
  return [f, init_cmd] { return init_cmd->parsed() ? init(*f) : show(*f); };
}

}  // namespace plextap::app
