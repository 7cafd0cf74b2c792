// Certificates as users handle them: `certs init` and `certs show`, serving the files it
// makes, serving a PKCS#12 bundle (how Plex keeps its own certificate), and the errors
// a wrong password, a damaged file or contradicting flags give.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/fixture.hpp"
#include "tests/integration/tls_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using CertsTest = ProxyTest;
using Pkcs12Test = ProxyTest;

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

// What `openssl s_client` says about verifying the proxy's certificate for `name`
// against `ca`: true when the chain and the name check out.
bool s_client_verifies(std::uint16_t port, const fs::path& ca, const std::string& name) {
  auto r = shell("openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -CAfile " +
                 shell_quoted(ca) + " -verify_hostname " + name + " -verify_return_error");
  return r.exit_code == 0 && r.output.find("Verify return code: 0 (ok)") != std::string::npos;
}

TEST_F(CertsTest, InitIssuesCertificateForTheNamesThatClientsVerify) {
  TempDir tmp;
  const auto dir = tmp.path() / "certs";
  auto r = run_certs_init(dir, {"proxy.example.test", "127.0.0.1", "10.20.30.40"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // How to trust the CA on the common systems, and how to point Plex at the proxy.
  for (const char* text :
       {"update-ca-certificates", "security add-trusted-cert", "certutil", "Android", "iOS",
        "Custom server access URLs", "https://proxy.example.test:32443"})
    EXPECT_NE(r.out.find(text), std::string::npos) << text << " missing from:\n" << r.out;

  EXPECT_EQ(mode_of(dir / "ca.key"), 0600u);
  EXPECT_EQ(mode_of(dir / "server.key"), 0600u);
  auto verify = shell("openssl verify -CAfile " + shell_quoted(dir / "ca.pem") + " " +
                      shell_quoted(dir / "server.pem"));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_NE(verify.output.find(": OK"), std::string::npos) << verify.output;
  auto san =
      shell("openssl x509 -in " + shell_quoted(dir / "server.pem") + " -noout -ext subjectAltName");
  for (const char* name :
       {"DNS:proxy.example.test", "IP Address:127.0.0.1", "IP Address:10.20.30.40"})
    EXPECT_NE(san.output.find(name), std::string::npos) << name << " not in " << san.output;

  start({"--tls-cert", (dir / "server.pem").string(), "--tls-key", (dir / "server.key").string()});
  // A client that trusts only this CA and checks the name 127.0.0.1.
  auto c = HttpClient::tls(proxy->https_port(), dir / "ca.pem");
  auto res = c->send(c->request(http::verb::get, "/small"));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), StandInUpstream::kSmallBody);
  EXPECT_TRUE(s_client_verifies(proxy->https_port(), dir / "ca.pem", "proxy.example.test"));
  EXPECT_FALSE(s_client_verifies(proxy->https_port(), dir / "ca.pem", "other.example.test"))
      << "a name the certificate was not issued for must not verify";
}

TEST_F(CertsTest, InitAgainKeepsTheCaAndIssuesANewCertificate) {
  TempDir tmp;
  const auto dir = tmp.path() / "certs";
  ASSERT_EQ(run_certs_init(dir, {"first.example.test"}).exit_code, 0);
  const auto ca = read_file(dir / "ca.pem");
  const auto ca_key = read_file(dir / "ca.key");
  const auto leaf = read_file(dir / "server.pem");
  auto r = run_certs_init(dir, {"second.example.test"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Reused"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(dir / "ca.pem"), ca) << "clients trusting the CA would have to start over";
  EXPECT_EQ(read_file(dir / "ca.key"), ca_key);
  EXPECT_NE(read_file(dir / "server.pem"), leaf);
  auto san =
      shell("openssl x509 -in " + shell_quoted(dir / "server.pem") + " -noout -ext subjectAltName");
  EXPECT_NE(san.output.find("DNS:second.example.test"), std::string::npos) << san.output;
  EXPECT_EQ(san.output.find("first.example.test"), std::string::npos) << san.output;
  auto verify = shell("openssl verify -CAfile " + shell_quoted(dir / "ca.pem") + " " +
                      shell_quoted(dir / "server.pem"));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST_F(CertsTest, ShowDescribesPemAndPkcs12Files) {
  TempDir tmp;
  const auto data = tmp.path() / "data";
  const auto dir = data / "certs";
  issue_certificates(dir, {"show.example.test", "192.0.2.7"});
  const auto fingerprint = openssl_fingerprint(dir / "server.pem");
  ASSERT_EQ(fingerprint.size(), 95u) << fingerprint;  // 32 bytes as AB:CD:…
  auto expect_leaf = [&](const CliResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("sha-256:     " + fingerprint), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("names:       DNS:show.example.test, IP:192.0.2.7"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("subject:     O=plextap, CN=show.example.test"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("issuer:      O=plextap, CN=plextap local CA"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("days left"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("key:         EC P-256"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("certificate 2 of 2 (chain)"), std::string::npos) << r.out;
  };
  expect_leaf(run_plextap({"certs", "show", (dir / "server.pem").string()}));
  // No file: the one serve would use under --data.
  expect_leaf(run_plextap({"certs", "show", "--data", data.string()}));

  const auto p12 = tmp.path() / "bundle.p12";
  make_pkcs12(dir / "server.pem", dir / "server.key", p12, "s3cret");
  auto r = run_plextap({"certs", "show", p12.string(), "--password", "s3cret"});
  expect_leaf(r);
  EXPECT_NE(r.out.find("private key: EC P-256"), std::string::npos) << r.out;

  auto wrong = run_plextap({"certs", "show", p12.string(), "--password", "nope"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_EQ(lines(wrong.err), 1u) << wrong.err;
  EXPECT_NE(wrong.err.find("wrong password"), std::string::npos) << wrong.err;
}

TEST_F(Pkcs12Test, ServesBundleWithAndWithoutPassword) {
  TempDir tmp;
  const auto dir = tmp.path() / "certs";
  issue_certificates(dir, {"127.0.0.1"});
  struct Case {
    std::string name, password, extra;
  };
  for (const Case& c : {Case{"with-password.p12", "pl3x", ""}, Case{"no-password.p12", "", ""},
                        Case{"legacy.p12", "pl3x", "-legacy"}}) {
    SCOPED_TRACE(c.name);
    const auto p12 = tmp.path() / c.name;
    make_pkcs12(dir / "server.pem", dir / "server.key", p12, c.password, c.extra);
    std::vector<std::string> flags{"--tls-p12", p12.string()};
    if (!c.password.empty()) flags.insert(flags.end(), {"--tls-p12-password", c.password});
    start(flags);
    auto client = HttpClient::tls(proxy->https_port(), dir / "ca.pem");
    EXPECT_EQ(client->send(client->request(http::verb::get, "/small")).result_int(), 200);
    // The bundle's CA certificate goes out as the chain: openssl verifies with the CA alone.
    EXPECT_TRUE(s_client_verifies(proxy->https_port(), dir / "ca.pem", "127.0.0.1"));
    proxy.reset();
  }
}

TEST_F(Pkcs12Test, WrongPasswordOrDamagedBundleIsOneLineAndExit1) {
  TempDir tmp;
  const auto dir = tmp.path() / "certs";
  issue_certificates(dir, {"127.0.0.1"});
  const auto p12 = tmp.path() / "plex.p12";
  make_pkcs12(dir / "server.pem", dir / "server.key", p12, "right");
  const std::vector<std::string> serve{
      "serve",       "--listen", "https://127.0.0.1:0",         "--admin",
      "127.0.0.1:0", "--data",   (tmp.path() / "data").string()};
  auto with = [&](std::vector<std::string> extra) {
    auto args = serve;
    args.insert(args.end(), extra.begin(), extra.end());
    return run_plextap(args);
  };

  auto wrong = with({"--tls-p12", p12.string(), "--tls-p12-password", "wrong"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_EQ(lines(wrong.err), 1u) << wrong.err;
  EXPECT_NE(wrong.err.find("wrong password"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find(p12.string()), std::string::npos) << wrong.err;

  auto missing = with({"--tls-p12", p12.string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(lines(missing.err), 1u) << missing.err;
  EXPECT_NE(missing.err.find("password"), std::string::npos) << missing.err;

  const auto damaged = tmp.path() / "damaged.p12";
  {
    auto bytes = read_file(p12);
    std::ofstream(damaged, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  auto bad = with({"--tls-p12", damaged.string(), "--tls-p12-password", "right"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(lines(bad.err), 1u) << bad.err;
  EXPECT_NE(bad.err.find(damaged.string()), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(tmp.path() / "data" / "store")) << "nothing is written on a bad start";

  auto both = with({"--tls-p12", p12.string(), "--tls-cert", (dir / "server.pem").string(),
                    "--tls-key", (dir / "server.key").string()});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_EQ(lines(both.err), 1u) << both.err;
  EXPECT_NE(both.err.find("--tls-p12"), std::string::npos) << both.err;
}

TEST(CertsCliTest, UpstreamTlsFlagsThatContradictAreUsageErrors) {
  auto plain = run_plextap({"serve", "--upstream", "http://127.0.0.1:1", "--upstream-sni", "x"});
  EXPECT_EQ(plain.exit_code, 2) << plain.err;
  EXPECT_NE(plain.err.find("https://"), std::string::npos) << plain.err;
  auto both = run_plextap({"serve", "--upstream", "https://127.0.0.1:1", "--upstream-ca", "ca.pem",
                           "--upstream-insecure"});
  EXPECT_EQ(both.exit_code, 2) << both.err;
  auto missing_ca = run_plextap({"serve", "--upstream", "https://127.0.0.1:1", "--upstream-ca",
                                 "/nonexistent/ca.pem", "--admin", "127.0.0.1:0"});
  EXPECT_EQ(missing_ca.exit_code, 1) << missing_ca.err;
  EXPECT_EQ(lines(missing_ca.err), 1u) << missing_ca.err;
  EXPECT_NE(missing_ca.err.find("/nonexistent/ca.pem"), std::string::npos) << missing_ca.err;
}

}  // namespace
}  // namespace plextap::itest
