#include "certs/local_ca.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "certs/openssl.hpp"

namespace plextap::certs {
namespace {

using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

KeyPtr new_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot generate an EC key");
  return key;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || !X509_add_ext(cert, ext.get(), -1)) fail("cannot add certificate extension " + value);
}

CertPtr new_cert(EVP_PKEY* key, const std::string& common_name, int days) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * days);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("plextap"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  return cert;
}

void write_file(const std::filesystem::path& path, mode_t mode, auto&& write) {
  auto tmp = path;
  tmp += ".tmp";
  ::umask(077);
  std::unique_ptr<FILE, Deleter<fclose>> f(std::fopen(tmp.c_str(), "w"));
  if (!f) fail("cannot write " + tmp.string());
  ::fchmod(fileno(f.get()), mode);
  if (!write(f.get())) fail("cannot write " + tmp.string());
  f.reset();
  std::filesystem::rename(tmp, path);
}

KeyPtr read_key(const std::filesystem::path& path) {
  std::unique_ptr<FILE, Deleter<fclose>> f(std::fopen(path.c_str(), "r"));
  if (!f) fail("cannot read " + path.string());
  KeyPtr key(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr));
  if (!key) fail("not a PEM private key: " + path.string());
  return key;
}

CertPtr read_cert(const std::filesystem::path& path) {
  std::unique_ptr<FILE, Deleter<fclose>> f(std::fopen(path.c_str(), "r"));
  if (!f) fail("cannot read " + path.string());
  CertPtr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
  if (!cert) fail("not a PEM certificate: " + path.string());
  return cert;
}

}  // namespace

std::vector<std::string> local_host_names() {
  std::vector<std::string> names{"localhost", "127.0.0.1", "::1"};
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && host[0]) names.emplace_back(host);
  ifaddrs* addrs = nullptr;
  if (::getifaddrs(&addrs) == 0) {
    for (auto* a = addrs; a; a = a->ifa_next) {
      if (!a->ifa_addr) continue;
      char text[INET6_ADDRSTRLEN] = {};
      if (a->ifa_addr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, text,
                  sizeof text);
      } else if (a->ifa_addr->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(a->ifa_addr);
        if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr)) continue;  // needs a scope id
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
      }
      if (text[0]) names.emplace_back(text);
    }
    freeifaddrs(addrs);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

CertificateFiles local_certificate_files(const std::filesystem::path& dir) {
  return {dir / "server.pem", dir / "server.key", dir / "ca.pem", dir / "ca.key"};
}

CertificateFiles ensure_local_certificate(const std::filesystem::path& dir,
                                          const std::vector<std::string>& hosts) {
  auto files = local_certificate_files(dir);
  if (std::filesystem::exists(files.cert) && std::filesystem::exists(files.key)) return files;
  return issue_local_certificate(dir, hosts).files;
}

IssuedCertificate issue_local_certificate(const std::filesystem::path& dir,
                                          const std::vector<std::string>& hosts) {
  IssuedCertificate issued{local_certificate_files(dir), false};
  const auto& files = issued.files;
  const auto& ca_key_path = files.ca_key;
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);

  KeyPtr ca_key;
  CertPtr ca;
  if (std::filesystem::exists(files.ca) && std::filesystem::exists(ca_key_path)) {
    ca_key = read_key(ca_key_path);
    ca = read_cert(files.ca);
  } else {
    issued.created_ca = true;
    ca_key = new_key();
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    ca = new_cert(ca_key.get(), std::string("plextap local CA (") + host + ")", 3650);
    X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get()));
    add_ext(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
    if (!X509_sign(ca.get(), ca_key.get(), EVP_sha256())) fail("cannot sign the CA certificate");
    write_file(ca_key_path, 0600, [&](FILE* f) {
      return PEM_write_PrivateKey(f, ca_key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
    });
    write_file(files.ca, 0644, [&](FILE* f) { return PEM_write_X509(f, ca.get()) == 1; });
  }

  // Leaf validity stays under 398 days: Apple platforms refuse longer ones.
  KeyPtr key = new_key();
  CertPtr leaf = new_cert(key.get(), hosts.empty() ? "localhost" : hosts.front(), 397);
  X509_set_issuer_name(leaf.get(), X509_get_subject_name(ca.get()));
  std::string san;
  for (const auto& h : hosts) {
    if (!san.empty()) san += ',';
    san += (is_ip_address(h) ? "IP:" : "DNS:") + h;
  }
  if (san.empty()) san = "DNS:localhost";
  add_ext(leaf.get(), ca.get(), NID_subject_alt_name, san);
  add_ext(leaf.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(leaf.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
  add_ext(leaf.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  add_ext(leaf.get(), ca.get(), NID_authority_key_identifier, "keyid");
  if (!X509_sign(leaf.get(), ca_key.get(), EVP_sha256())) fail("cannot sign the certificate");

  write_file(files.key, 0600, [&](FILE* f) {
    return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  });
  write_file(files.cert, 0644, [&](FILE* f) {
    return PEM_write_X509(f, leaf.get()) == 1 && PEM_write_X509(f, ca.get()) == 1;
  });
  return issued;
}

}  // namespace plextap::certs
