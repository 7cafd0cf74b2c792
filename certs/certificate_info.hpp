// What a certificate says about itself, in the terms a user checks: who it is for, who
// signed it, how long it is valid, its fingerprint and its key.
#pragma once

#include <openssl/x509.h>

#include <chrono>
#include <string>
#include <vector>

namespace plextap::certs {

struct CertificateInfo {
  std::string subject;  // "O=plextap, CN=localhost"
  std::string issuer;
  std::vector<std::string> names;  // subject alternative names: "DNS:host", "IP:10.0.0.2"
  std::chrono::system_clock::time_point not_before, not_after;
  std::string sha256;    // "AB:CD:…", as browsers and `openssl x509 -fingerprint` show it
  std::string key_type;  // "EC P-256", "RSA 2048", "Ed25519"
  bool is_ca = false;
};

CertificateInfo describe(X509* cert);

// "EC P-256", "RSA 2048", ... for a public or private key.
std::string describe_key(EVP_PKEY* key);

// "2028-01-02 16:01:38 UTC": how validity dates are shown and logged.
std::string format_utc(std::chrono::system_clock::time_point t);

}  // namespace plextap::certs
