// Server-side TLS settings shared by every HTTPS listener: TLS 1.2 and 1.3 only,
// modern ciphers, session resumption, small idle memory per connection.
#pragma once

#include <openssl/ssl.h>

#include <filesystem>
#include <memory>

namespace plextap::certs {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// Loads a PEM certificate chain and its private key. Throws std::runtime_error with a
// message naming the file and OpenSSL's reason.
SslCtxPtr make_server_context(const std::filesystem::path& cert_chain,
                              const std::filesystem::path& private_key);

}  // namespace plextap::certs
