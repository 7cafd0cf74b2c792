// The proxy's TLS listener over time: which protocol versions it accepts, swapping the
// certificate on SIGHUP without dropping connections (PEM and PKCS#12), refusing a bad
// new file, and saying when the certificate is about to expire.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/integration/fixture.hpp"
#include "tests/integration/tls_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using TlsVersionTest = ProxyTest;
using ReloadTest = ProxyTest;
using ExpiryTest = ProxyTest;

// A CA and a certificate for 127.0.0.1 signed by it.
fs::path issue(const fs::path& dir) {
  return issue_certificates(dir, {"127.0.0.1"});
}

// Replaces `to` by a copy of `from` in one step, as a deployment script would.
void replace_file(const fs::path& from, const fs::path& to) {
  auto tmp = to;
  tmp += ".new";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, to);
}

bool trusted_by(std::uint16_t port, const fs::path& ca) {
  try {
    auto c = HttpClient::tls(port, ca, 10s);
    return c->send(c->request(http::verb::get, "/small")).result_int() == 200;
  } catch (const std::exception&) {
    return false;
  }
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Sends SIGHUP and waits for the reload's log line (the `nth` of its kind).
bool reload(PlextapProcess& p, const std::string& line, std::size_t nth) {
  p.signal(SIGHUP);
  return wait_until([&] { return occurrences(p.stderr_text(), line) >= nth; }, 5s);
}

long long metric(const std::string& text, const std::string& name) {
  auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::atoll(text.c_str() + at + name.size() + 2);
}

TEST_F(TlsVersionTest, OnlyTls12And13AreAccepted) {
  start();
  auto probe = [&](const std::string& version) {
    // SECLEVEL=0 lets this client offer the old versions at all: a refusal is the server's.
    return shell("openssl s_client -connect 127.0.0.1:" + std::to_string(proxy->https_port()) +
                 " " + version + " -cipher DEFAULT@SECLEVEL=0");
  };
  for (const char* old : {"-tls1", "-tls1_1"}) {
    auto r = probe(old);
    EXPECT_NE(r.exit_code, 0) << old << ":\n" << r.output;
    EXPECT_NE(r.output.find("alert protocol version"), std::string::npos)
        << old << " should be refused by the server with a protocol_version alert:\n"
        << r.output;
  }
  auto v12 = probe("-tls1_2");
  EXPECT_NE(v12.output.find("New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"),
            std::string::npos)
      << v12.output;
  auto v13 = probe("-tls1_3");
  EXPECT_NE(v13.output.find("New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256"), std::string::npos)
      << v13.output;
}

TEST_F(ReloadTest, SighupSwapsPemCertificateAndKeepsOpenConnections) {
  TempDir tmp;
  const auto a = issue(tmp.path() / "a"), b = issue(tmp.path() / "b");
  const auto live = tmp.path() / "live";
  fs::create_directories(live);
  fs::copy_file(a / "server.pem", live / "server.pem");
  fs::copy_file(a / "server.key", live / "server.key");
  start(
      {"--tls-cert", (live / "server.pem").string(), "--tls-key", (live / "server.key").string()});

  auto open = HttpClient::tls(proxy->https_port(), a / "ca.pem");
  ASSERT_EQ(open->send(open->request(http::verb::get, "/small")).result_int(), 200);
  ASSERT_TRUE(trusted_by(proxy->https_port(), a / "ca.pem"));
  ASSERT_FALSE(trusted_by(proxy->https_port(), b / "ca.pem")) << "the two CAs must differ";

  replace_file(b / "server.key", live / "server.key");
  replace_file(b / "server.pem", live / "server.pem");
  ASSERT_TRUE(reload(*proxy, "reloaded TLS certificate", 1)) << proxy->stderr_text();
  // The connection made before the swap goes on with the certificate it started with...
  auto again = open->send(open->request(http::verb::get, "/small"));
  EXPECT_EQ(again.result_int(), 200);
  EXPECT_EQ(again.body(), StandInUpstream::kSmallBody);
  // ...and new ones get the new certificate.
  EXPECT_TRUE(trusted_by(proxy->https_port(), b / "ca.pem"));
  EXPECT_FALSE(trusted_by(proxy->https_port(), a / "ca.pem"));

  std::ofstream(live / "server.pem", std::ios::trunc) << "-----BEGIN CERTIFICATE-----\nnope\n";
  ASSERT_TRUE(reload(*proxy, "TLS reload refused", 1)) << proxy->stderr_text();
  EXPECT_TRUE(trusted_by(proxy->https_port(), b / "ca.pem"))
      << "a bad file must not replace the good one";
  EXPECT_EQ(open->send(open->request(http::verb::get, "/small")).result_int(), 200);

  // A key that belongs to another certificate is refused as well.
  replace_file(b / "server.pem", live / "server.pem");
  replace_file(a / "server.key", live / "server.key");
  ASSERT_TRUE(reload(*proxy, "TLS reload refused", 2)) << proxy->stderr_text();
  EXPECT_TRUE(trusted_by(proxy->https_port(), b / "ca.pem"));
}

TEST_F(ReloadTest, SighupReloadsPkcs12Bundle) {
  TempDir tmp;
  const auto a = issue(tmp.path() / "a"), b = issue(tmp.path() / "b");
  const auto live = tmp.path() / "live.p12";
  make_pkcs12(a / "server.pem", a / "server.key", live, "pw");
  start({"--tls-p12", live.string(), "--tls-p12-password", "pw"});
  auto open = HttpClient::tls(proxy->https_port(), a / "ca.pem");
  ASSERT_EQ(open->send(open->request(http::verb::get, "/small")).result_int(), 200);

  make_pkcs12(b / "server.pem", b / "server.key", tmp.path() / "b.p12", "pw");
  replace_file(tmp.path() / "b.p12", live);
  ASSERT_TRUE(reload(*proxy, "reloaded TLS certificate " + live.string(), 1))
      << proxy->stderr_text();
  EXPECT_TRUE(trusted_by(proxy->https_port(), b / "ca.pem"));
  EXPECT_FALSE(trusted_by(proxy->https_port(), a / "ca.pem"));
  EXPECT_EQ(open->send(open->request(http::verb::get, "/small")).result_int(), 200);

  // The same bundle under another password: refused, the current one stays.
  make_pkcs12(a / "server.pem", a / "server.key", tmp.path() / "other.p12", "changed");
  replace_file(tmp.path() / "other.p12", live);
  ASSERT_TRUE(reload(*proxy, "TLS reload refused", 1)) << proxy->stderr_text();
  EXPECT_NE(proxy->stderr_text().find("wrong password"), std::string::npos);
  EXPECT_TRUE(trusted_by(proxy->https_port(), b / "ca.pem"));
}

TEST_F(ExpiryTest, WarnsAndReportsSecondsToExpiryAtStartAndOnReload) {
  TempDir tmp;
  const auto cert = tmp.path() / "cert.pem", key = tmp.path() / "key.pem";
  make_self_signed(cert, key, 5);
  start({"--tls-cert", cert.string(), "--tls-key", key.string()});
  EXPECT_NE(proxy->stderr_text().find("expires in 4 days"), std::string::npos)
      << proxy->stderr_text();
  auto seconds = metric(admin_get("/metrics").body(), "plextap_tls_certificate_expiry_seconds");
  EXPECT_GT(seconds, 4 * 86'400 + 80'000);
  EXPECT_LE(seconds, 5 * 86'400);

  // A fresh certificate: the gauge follows it, and no new warning is logged.
  const auto fresh = issue(tmp.path() / "fresh");
  replace_file(fresh / "server.key", key);
  replace_file(fresh / "server.pem", cert);
  ASSERT_TRUE(reload(*proxy, "reloaded TLS certificate", 1)) << proxy->stderr_text();
  seconds = metric(admin_get("/metrics").body(), "plextap_tls_certificate_expiry_seconds");
  EXPECT_GT(seconds, 390LL * 86'400);
  EXPECT_LE(seconds, 397LL * 86'400);
  EXPECT_EQ(occurrences(proxy->stderr_text(), "expires in"), 1u) << proxy->stderr_text();
}

}  // namespace
}  // namespace plextap::itest
