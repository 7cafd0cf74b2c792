#include "certs/server_tls.hpp"

#include <stdexcept>
#include <string>

namespace plextap::certs {

SslCtxPtr make_server_context(const Credentials& credentials) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) throw std::runtime_error("cannot create TLS context: " + openssl_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // Idle keep-alive connections give their read/write buffers back to the allocator.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  // Read whatever the socket has in one call instead of a record header and then its
  // body: one system call per request saved.
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  SSL_CTX_set_cipher_list(ctx.get(),
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  // TLS 1.3: AES-128-GCM first (as secure for this use, and cheaper per byte than
  // AES-256 on the multi-gigabyte streams a Plex proxy carries).
  SSL_CTX_set_ciphersuites(
      ctx.get(), "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  if (SSL_CTX_use_certificate(ctx.get(), credentials.cert.get()) != 1)
    throw std::runtime_error("cannot use the certificate: " + openssl_reason());
  for (const auto& cert : credentials.chain)
    if (SSL_CTX_add1_chain_cert(ctx.get(), cert.get()) != 1)
      throw std::runtime_error("cannot use the certificate chain: " + openssl_reason());
  if (SSL_CTX_use_PrivateKey(ctx.get(), credentials.key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1)
    throw std::runtime_error("cannot use the private key: " + openssl_reason());
  return ctx;
}

}  // namespace plextap::certs
