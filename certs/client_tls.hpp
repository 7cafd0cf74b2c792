// TLS towards an https upstream: whom to trust, and which name to ask for and verify.
#pragma once

#include <openssl/ssl.h>

#include <filesystem>
#include <string>

#include "certs/openssl.hpp"

namespace plextap::certs {

struct ClientTlsOptions {
  std::filesystem::path ca_file;  // PEM; empty: the system's trusted CAs
  bool verify = true;             // false: accept any certificate (--upstream-insecure)
};

// TLS 1.2 and 1.3. Throws std::runtime_error when the CA file cannot be read.
SslCtxPtr make_client_context(const ClientTlsOptions& options);

// Prepares one connection: sends `server_name` as SNI (unless it is an address, which
// SNI cannot carry) and, when verifying, checks the certificate against that name or
// address. False when OpenSSL refuses the name.
bool prepare_client_connection(SSL* ssl, const std::string& server_name, bool verify);

}  // namespace plextap::certs
