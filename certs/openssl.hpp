// What the files of certs/ share about OpenSSL: owning pointers for its objects, the
// text of its last error, and telling an address from a host name.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace plextap::certs {

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;

// OpenSSL's reason for the last failure ("unknown error" if it gave none); clears the
// error queue.
std::string openssl_reason();

// True for an IPv4 or IPv6 literal: such names go into a certificate as IP entries and
// are never sent as SNI.
bool is_ip_address(const std::string& host);

}  // namespace plextap::certs
