#include "certs/client_tls.hpp"

#include <openssl/x509v3.h>

#include <stdexcept>

namespace plextap::certs {

SslCtxPtr make_client_context(const ClientTlsOptions& options) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) throw std::runtime_error("cannot create TLS context: " + openssl_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // A server that closes without close_notify ends the stream like a TCP close would: a
  // body framed by length or chunks still fails when cut short (the HTTP parser sees
  // it), and a body delimited by the close ends where it should.
  SSL_CTX_set_options(
      ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Pooled connections sit idle between requests: no buffers held while they do.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  if (!options.verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    return ctx;
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (options.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1)
      throw std::runtime_error("cannot load the system's trusted CAs: " + openssl_reason());
  } else if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
    throw std::runtime_error("cannot load CA file " + options.ca_file.string() + ": " +
                             openssl_reason());
  }
  return ctx;
}

bool prepare_client_connection(SSL* ssl, const std::string& server_name, bool verify) {
  const bool ip = is_ip_address(server_name);
  if (!ip && SSL_set_tlsext_host_name(ssl, server_name.c_str()) != 1) return false;
  if (!verify) return true;
  if (ip) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str()) == 1;
  return SSL_set1_host(ssl, server_name.c_str()) == 1;
}

}  // namespace plextap::certs
