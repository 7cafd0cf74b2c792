#include "certs/credentials.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>

namespace plextap::certs {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path.string() + ": no such file or not readable");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

BioPtr memory_bio(const std::string& bytes) {
  BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  if (!bio) fail("out of memory");
  return bio;
}

bool looks_like_pem(const std::string& bytes) {
  return bytes.find("-----BEGIN ") != std::string::npos;
}

// Certificates in file order; the first may carry trust settings (TRUSTED CERTIFICATE).
std::vector<CertPtr> pem_certificates(const std::string& bytes) {
  std::vector<CertPtr> out;
  auto bio = memory_bio(bytes);
  while (X509* x = PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the end of the file reads as an error
  return out;
}

KeyPtr pem_key(const std::string& bytes) {
  auto bio = memory_bio(bytes);
  // An empty passphrase callback result: an encrypted key fails instead of prompting.
  KeyPtr key(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  ERR_clear_error();
  return key;
}

// Bundles made with older tools (and `openssl pkcs12 -export -legacy`) encrypt with
// RC2 or 3DES, which OpenSSL 3 keeps in its legacy provider; load it once, on demand.
void load_legacy_provider() {
  static std::once_flag once;
  std::call_once(once, [] {
    OSSL_PROVIDER_load(nullptr, "legacy");
    OSSL_PROVIDER_load(nullptr, "default");  // loading one provider stops the automatic default
  });
}

bool mac_matches(PKCS12* p12, const std::string& password) {
  if (!PKCS12_mac_present(p12)) return true;
  if (PKCS12_verify_mac(p12, password.c_str(), static_cast<int>(password.size()))) return true;
  // No password may have been given as "no password" or as the empty one.
  return password.empty() && PKCS12_verify_mac(p12, nullptr, 0);
}

Credentials parse_pkcs12(const std::string& bytes, const std::filesystem::path& path,
                         const std::string& password) {
  auto bio = memory_bio(bytes);
  std::unique_ptr<PKCS12, Deleter<PKCS12_free>> p12(d2i_PKCS12_bio(bio.get(), nullptr));
  if (!p12) {
    ERR_clear_error();
    fail(path.string() + " is neither PEM nor a PKCS#12 bundle (damaged?)");
  }
  if (!mac_matches(p12.get(), password)) {
    ERR_clear_error();
    fail(password.empty() ? "PKCS#12 bundle " + path.string() + " needs a password"
                          : "wrong password for PKCS#12 bundle " + path.string());
  }
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* ca = nullptr;
  auto parse = [&] { return PKCS12_parse(p12.get(), password.c_str(), &key, &cert, &ca) == 1; };
  bool ok = parse();
  if (!ok) {
    ERR_clear_error();
    load_legacy_provider();
    ok = parse();
  }
  if (!ok) fail("cannot read PKCS#12 bundle " + path.string() + ": " + openssl_reason());
  Credentials out;
  out.key.reset(key);
  out.cert.reset(cert);
  for (int i = 0; ca && i < sk_X509_num(ca); ++i) out.chain.emplace_back(sk_X509_value(ca, i));
  sk_X509_free(ca);  // the certificates now belong to `out.chain`
  return out;
}

Credentials read_file(const std::filesystem::path& path, const std::string& password) {
  const std::string bytes = read_all(path);
  if (!looks_like_pem(bytes)) return parse_pkcs12(bytes, path, password);
  Credentials out;
  auto certs = pem_certificates(bytes);
  if (!certs.empty()) {
    out.cert = std::move(certs.front());
    for (std::size_t i = 1; i < certs.size(); ++i) out.chain.push_back(std::move(certs[i]));
  }
  out.key = pem_key(bytes);
  return out;
}

}  // namespace

Credentials read_certificate_file(const std::filesystem::path& file, const std::string& password) {
  Credentials out = read_file(file, password);
  if (!out.cert && !out.key) fail("no certificate or private key in " + file.string());
  return out;
}

Credentials load_credentials(const CredentialFiles& files) {
  Credentials out;
  std::string where;
  if (!files.pkcs12.empty()) {
    where = files.pkcs12.string();
    out = read_file(files.pkcs12, files.pkcs12_password);
    if (!out.key) fail("no private key in " + where);
  } else {
    where = files.cert_chain.string();
    out = read_file(files.cert_chain, {});
    if (!out.cert) fail("no certificate in " + where);
    Credentials key_file = read_file(files.private_key, {});
    if (!key_file.key)
      fail("no private key in " + files.private_key.string() +
           " (an encrypted key is not supported)");
    out.key = std::move(key_file.key);
    where = files.private_key.string() + " and " + where;
  }
  if (!out.cert) fail("no certificate in " + where);
  if (X509_check_private_key(out.cert.get(), out.key.get()) != 1) {
    ERR_clear_error();
    fail("private key and certificate do not belong together: " + where);
  }
  return out;
}

}  // namespace plextap::certs
