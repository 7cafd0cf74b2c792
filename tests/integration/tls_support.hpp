// What the certificate and TLS tests share: running the openssl command line (to make
// bundles and certificates the way users do, and to probe the proxy as an outside
// client would), and a TLS front that puts the stand-in upstream behind https.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/process.hpp"

namespace plextap::itest {

struct ShellResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` with /bin/sh (stdin from /dev/null), at most 30 s.
ShellResult shell(const std::string& command);

// `path` quoted for the shell.
std::string shell_quoted(const std::filesystem::path& path);

// `plextap certs init --out DIR --host NAME...`, as it went.
CliResult run_certs_init(const std::filesystem::path& dir, const std::vector<std::string>& hosts);
// The same, for a test that only needs the files: a CA and a certificate for `hosts`
// signed by it, under `dir`, which is returned. Throws std::runtime_error on failure.
std::filesystem::path issue_certificates(const std::filesystem::path& dir,
                                         const std::vector<std::string>& hosts);

// `openssl pkcs12 -export` of a PEM certificate chain and key; `extra` goes to the
// command as it is (e.g. "-legacy"). Throws std::runtime_error if openssl fails.
void make_pkcs12(const std::filesystem::path& cert, const std::filesystem::path& key,
                 const std::filesystem::path& out, const std::string& password,
                 const std::string& extra = {});

// A self-signed EC certificate for IP 127.0.0.1, valid for `days`. Throws on failure.
void make_self_signed(const std::filesystem::path& cert, const std::filesystem::path& key,
                      int days);

// The SHA-256 fingerprint `openssl x509` gives for the first certificate in `pem`
// ("AB:CD:…").
std::string openssl_fingerprint(const std::filesystem::path& pem);

// Terminates TLS on a port of its own with the given certificate and passes the bytes
// on to 127.0.0.1:`backend_port`, so every path of the stand-in upstream is also
// there over https. A thread per connection; stop() (or the destructor) ends them.
class TlsFront {
 public:
  // With `close_notify` false the front closes its TLS connections like a server that
  // just drops the socket, without TLS's closing message.
  TlsFront(std::uint16_t backend_port, const std::filesystem::path& cert_chain,
           const std::filesystem::path& key, bool close_notify = true);
  ~TlsFront();
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;

  std::uint16_t port() const;
  // The SNI name each handshake asked for, "" when none was sent; failed ones included.
  std::vector<std::string> server_names() const;
  std::uint64_t handshakes_completed() const;
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plextap::itest
