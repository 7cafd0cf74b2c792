// Generates a local certificate authority and a server certificate signed by it,
// so that `plextap serve` speaks TLS on first start with no set-up.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace plextap::certs {

struct CertificateFiles {
  std::filesystem::path cert;    // leaf certificate followed by the CA (PEM chain)
  std::filesystem::path key;     // leaf private key (PEM, mode 0600)
  std::filesystem::path ca;      // CA certificate clients can trust
  std::filesystem::path ca_key;  // the CA's private key (mode 0600): never leaves `dir`
};

// The file names under `dir` (server.pem, server.key, ca.pem, ca.key), whether or not
// they exist.
CertificateFiles local_certificate_files(const std::filesystem::path& dir);

struct IssuedCertificate {
  CertificateFiles files;
  bool created_ca = false;  // false: the CA already there signed it (clients keep trusting)
};

// Names and addresses this host answers to: "localhost", the host name, loopback
// addresses and the addresses of every interface that is up.
std::vector<std::string> local_host_names();

// Returns the certificate under `dir`, creating the CA and the leaf for `hosts` when
// they do not exist yet. Existing files are reused untouched. Throws std::runtime_error.
CertificateFiles ensure_local_certificate(const std::filesystem::path& dir,
                                          const std::vector<std::string>& hosts);

// Issues a new leaf for `hosts` under `dir`, replacing the one there, signed by the CA
// under `dir` (created first if there is none). Throws std::runtime_error.
IssuedCertificate issue_local_certificate(const std::filesystem::path& dir,
                                          const std::vector<std::string>& hosts);

}  // namespace plextap::certs
