// Server-side TLS settings shared by every HTTPS listener: TLS 1.2 and 1.3 only,
// modern ciphers, session resumption, small idle memory per connection.
#pragma once

#include <openssl/ssl.h>

#include "certs/credentials.hpp"
#include "certs/openssl.hpp"

namespace plextap::certs {

// A context presenting `credentials` (leaf, chain and key, already checked to match).
// Throws std::runtime_error with OpenSSL's reason.
SslCtxPtr make_server_context(const Credentials& credentials);

}  // namespace plextap::certs
