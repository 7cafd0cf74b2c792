// certs/ on its own: what the local CA issues, how certificates are described, and
// which credentials are refused.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <fstream>

#include "certs/certificate_info.hpp"
#include "certs/credentials.hpp"
#include "certs/local_ca.hpp"
#include "tests/unit/temp_dir.hpp"

namespace plextap::certs {
namespace {

using std::chrono::hours;
using test_support::TempDir;

std::string file_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(LocalCaTest, IssuedCertificateCarriesTheNamesAndIsSignedByTheCa) {
  TempDir dir;
  auto issued = issue_local_certificate(dir.path(), {"a.example.test", "10.0.0.1", "::1"});
  EXPECT_TRUE(issued.created_ca);
  auto found = read_certificate_file(issued.files.cert, {});
  ASSERT_TRUE(found.cert);
  ASSERT_EQ(found.chain.size(), 1u) << "server.pem carries the CA after the leaf";
  auto leaf = describe(found.cert.get());
  auto ca = describe(found.chain.front().get());
  EXPECT_EQ(leaf.names, (std::vector<std::string>{"DNS:a.example.test", "IP:10.0.0.1", "IP:::1"}));
  EXPECT_EQ(leaf.subject, "O=plextap, CN=a.example.test");
  EXPECT_EQ(leaf.issuer, ca.subject);
  EXPECT_EQ(ca.issuer, ca.subject);
  EXPECT_EQ(leaf.key_type, "EC P-256");
  EXPECT_FALSE(leaf.is_ca);
  EXPECT_TRUE(ca.is_ca);
  EXPECT_EQ(leaf.sha256.size(), 95u);
  // 397 days from an hour ago: under the 398 days Apple platforms accept.
  EXPECT_EQ(std::chrono::duration_cast<hours>(leaf.not_after - leaf.not_before).count(),
            397 * 24 + 1);
}

TEST(LocalCaTest, IssuingAgainKeepsTheCa) {
  TempDir dir;
  auto first = issue_local_certificate(dir.path(), {"one.example.test"});
  const auto ca = file_text(first.files.ca);
  const auto leaf = file_text(first.files.cert);
  auto second = issue_local_certificate(dir.path(), {"two.example.test"});
  EXPECT_FALSE(second.created_ca);
  EXPECT_EQ(file_text(second.files.ca), ca);
  EXPECT_NE(file_text(second.files.cert), leaf);
  // ensure_local_certificate (what serve does on start) leaves existing files alone.
  const auto now = file_text(second.files.cert);
  ensure_local_certificate(dir.path(), {"three.example.test"});
  EXPECT_EQ(file_text(second.files.cert), now);
}

TEST(CredentialsTest, KeyOfAnotherCertificateIsRefused) {
  TempDir a, b;
  auto fa = issue_local_certificate(a.path(), {"a.example.test"}).files;
  auto fb = issue_local_certificate(b.path(), {"b.example.test"}).files;
  EXPECT_NO_THROW(load_credentials({fa.cert, fa.key, {}, {}}));
  try {
    load_credentials({fa.cert, fb.key, {}, {}});
    ADD_FAILURE() << "a mismatched key was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("do not belong together"), std::string::npos) << e.what();
  }
}

TEST(CredentialsTest, FileThatIsNeitherPemNorPkcs12IsRefused) {
  TempDir dir;
  const auto junk = dir.path() / "junk.p12";
  std::ofstream(junk) << "this is not a certificate";
  try {
    read_certificate_file(junk, {});
    ADD_FAILURE() << "junk was read as a certificate";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("neither PEM nor a PKCS#12 bundle"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(read_certificate_file(dir.path() / "missing.pem", {}), std::runtime_error);
}

TEST(CertificateInfoTest, KeysAndDatesAreNamedAsUsersExpect) {
  KeyPtr rsa(EVP_RSA_gen(2048));
  ASSERT_TRUE(rsa);
  EXPECT_EQ(describe_key(rsa.get()), "RSA 2048");
  KeyPtr ec(EVP_EC_gen("P-384"));
  ASSERT_TRUE(ec);
  EXPECT_EQ(describe_key(ec.get()), "EC P-384");
  EXPECT_EQ(format_utc(std::chrono::system_clock::from_time_t(86'400 + 3'661)),
            "1970-01-02 01:01:01 UTC");
}

}  // namespace
}  // namespace plextap::certs
