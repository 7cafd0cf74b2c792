// A certificate chain and its private key, read from PEM files or from a PKCS#12
// bundle (the form Plex Media Server keeps its own certificate in).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "certs/openssl.hpp"

namespace plextap::certs {

struct Credentials {
  CertPtr cert;                // the leaf
  std::vector<CertPtr> chain;  // what follows it: intermediates, the CA
  KeyPtr key;                  // null when the file held certificates only
};

// Where a server certificate comes from: PEM files, or a PKCS#12 bundle.
struct CredentialFiles {
  std::filesystem::path cert_chain;  // PEM: leaf first, then its chain
  std::filesystem::path private_key;
  std::filesystem::path pkcs12;  // used instead when not empty
  std::string pkcs12_password;
};

// Reads certificate and key, and checks that they belong together. Throws
// std::runtime_error naming the file and what is wrong with it ("wrong password", "not a
// PKCS#12 bundle", "does not match").
Credentials load_credentials(const CredentialFiles& files);

// Every certificate of a PEM file or a PKCS#12 bundle (told apart by content), leaf
// first, and the private key if the file has one. A PEM file holding only a key gives
// the key and no certificate. Throws std::runtime_error.
Credentials read_certificate_file(const std::filesystem::path& file, const std::string& password);

}  // namespace plextap::certs
