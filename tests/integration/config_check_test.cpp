// The configuration as a user meets it: a config file with a mistake stops the command
// with one line (file, line, key, the closest valid key), `--config` goes before or after
// the subcommand, `check` reports what serve would use, and the command line's other
// promises (an unknown option named, `help`, formats that do not apply, `replay send`
// failing when nothing answered, `replay serve` writing its own X-Plextap-* fields once).
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "capture/text.hpp"
#include "tests/integration/fixture.hpp"
#include "tests/integration/recording_support.hpp"
#include "tests/integration/tls_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::string_view kIdentity =
    R"(<MediaContainer size="0" machineIdentifier="abc" version="1.41.3"/>)";

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

fs::path write(const fs::path& file, const std::string& text) {
  std::ofstream(file, std::ios::trunc) << text;
  return file;
}

// A self-signed certificate for 127.0.0.1 that expired yesterday (openssl's command line
// makes no certificate valid in the past).
void make_expired(const fs::path& cert_file, const fs::path& key_file) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASSERT_TRUE(key && cert);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert), -10L * 86400);
  X509_gmtime_adj(X509_getm_notAfter(cert), -86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  std::FILE* out = std::fopen(cert_file.c_str(), "w");
  PEM_write_X509(out, cert);
  std::fclose(out);
  out = std::fopen(key_file.c_str(), "w");
  PEM_write_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(out);
  X509_free(cert);
  EVP_PKEY_free(key);
}

class ConfigCheckTest : public ProxyTest {
 protected:
  // `plextap check` for the stand-in upstream, on loopback, with a fresh data directory.
  CliResult check(std::vector<std::string> extra = {}, bool https = false) {
    std::vector<std::string> args{"check",
                                  "--listen",
                                  https ? "https://127.0.0.1:0" : "http://127.0.0.1:0",
                                  "--admin",
                                  "127.0.0.1:0",
                                  "--data",
                                  (tmp.path() / "data").string()};
    bool upstream_given = false;
    for (const auto& e : extra) upstream_given = upstream_given || e == "--upstream";
    if (!upstream_given)
      args.insert(args.end(),
                  {"--upstream", "http://127.0.0.1:" + std::to_string(upstream.port())});
    args.insert(args.end(), extra.begin(), extra.end());
    return run_plextap(args, 20s);
  }
  void SetUp() override {
    StandInUpstream::Canned identity;
    identity.content_type = "application/xml";
    identity.body = kIdentity;
    upstream.answer("/identity", identity);
  }
  TempDir tmp;
};

// The line of `out` that starts with `verdict` (ok, warn, fail) and names `item`.
bool has_line(const std::string& out, const std::string& verdict, const std::string& item) {
  for (const auto& line : split_lines(out))
    if (line.starts_with(verdict + " ") && contains(line, " " + item + " ")) return true;
  return false;
}

TEST(ConfigFileTest, KeyOutsideServeStopsWithFileLineKeyAndClosestKey) {
  TempDir tmp;
  // The mistake of the report: the listener above [serve], where it used to be ignored
  // and serve came up on the public default.
  const auto file = write(tmp.path() / "plextap.toml",
                          "# plextap on loopback only\nlisten = \"http://127.0.0.1:0\"\n\n[serve]\n"
                          "admin = \"127.0.0.1:0\"\n");
  auto r = run_plextap({"serve", "--config", file.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(file.string() + ":2:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'listen'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[serve] listen"), std::string::npos) << r.err;
  EXPECT_FALSE(contains(r.err, "listening")) << "nothing may be served: " << r.err;

  // A typo inside the table: the closest key is offered.
  write(file, "[serve]\nadmin = \"127.0.0.1:0\"\nuptream = \"http://127.0.0.1:1\"\n");
  r = run_plextap({"serve", "--config", file.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(file.string() + ":3: unknown key 'uptream' in [serve] (did you mean "
                                       "'upstream'?)"),
            std::string::npos)
      << r.err;
}

TEST(ConfigFileTest, SyntaxErrorsAndWrongTypesNameTheLine) {
  TempDir tmp;
  const auto file = tmp.path() / "plextap.toml";
  struct Case {
    std::string toml;
    std::string says;
  };
  for (const Case& c :
       {Case{"[serve]\nadmin = \"127.0.0.1:0\"\nthreads = = 2\n",
             ":3: syntax error at key 'threads'"},
        Case{"[serve]\nthreads = \"two\"\n", ":2: key 'threads' in [serve] must be a whole number"},
        Case{"[serve]\n\n\nno-enrich = 1\n",
             ":4: key 'no-enrich' in [serve] must be true or false"},
        Case{"[serve]\nupstream = [\"http://127.0.0.1:1\"]\n",
             ":2: key 'upstream' in [serve] takes one value"},
        Case{"[serve\nthreads = 2\n", ":1:"}}) {
    SCOPED_TRACE(c.toml);
    write(file, c.toml);
    auto r = run_plextap({"serve", "--config", file.string()});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(file.string() + c.says), std::string::npos) << r.err;
  }
}

TEST_F(ConfigCheckTest, ConfigGoesBeforeOrAfterTheSubcommandAndFlagsWin) {
  const auto file =
      write(tmp.path() / "plextap.toml",
            "[serve]\nupstream = \"http://127.0.0.1:" + std::to_string(upstream.port()) +
                "\"\nlisten = [\"http://127.0.0.1:0\"]\nadmin = \"127.0.0.1:0\"\n"
                "data = \"" +
                (tmp.path() / "data").string() + "\"\n");
  const std::string from_file = "http://127.0.0.1:" + std::to_string(upstream.port()) + " answers";
  for (const auto& args : {std::vector<std::string>{"--config", file.string(), "check"},
                           std::vector<std::string>{"check", "--config", file.string()}}) {
    auto r = run_plextap(args, 20s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(contains(r.out, from_file)) << r.out;
    EXPECT_TRUE(contains(r.out, file.string())) << r.out;
  }
  // The command line wins over the file.
  auto r =
      run_plextap({"check", "--config", file.string(), "--upstream", "http://127.0.0.1:1"}, 20s);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(has_line(r.out, "fail", "upstream")) << r.out;

  // serve itself reads the file: the access log it names gets the request.
  const auto log = tmp.path() / "access.log";
  write(file, "[serve]\naccess-log = \"" + log.string() + "\"\n");
  start({"--config", file.string()});
  auto c = http();
  EXPECT_EQ(c->send(c->request(http::verb::get, "/small?from-config")).result_int(), 200);
  EXPECT_TRUE(wait_until([&] { return contains(read_file(log), "/small?from-config"); }, 10s))
      << read_file(log);
}

TEST_F(ConfigCheckTest, CheckAgainstAStandInIsOk) {
  auto r = check();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "ok", "upstream")) << r.out;
  EXPECT_TRUE(contains(r.out, "version 1.41.3")) << r.out;
  EXPECT_TRUE(has_line(r.out, "ok", "data")) << r.out;
  EXPECT_TRUE(has_line(r.out, "ok", "store")) << r.out;
  for (const char* item :
       {"config", "listen", "certificate", "recording", "enrichment", "server-watch", "admin"})
    EXPECT_TRUE(has_line(r.out, "ok", item)) << item << " missing from\n" << r.out;
  EXPECT_FALSE(contains(r.out, "fail ")) << r.out;
  EXPECT_EQ(upstream.count("/identity"), 1u);
  EXPECT_FALSE(fs::exists(tmp.path() / "data")) << "check writes nothing";
}

TEST_F(ConfigCheckTest, ClosedPortFails) {
  // A port that was free a moment ago: nothing listens there.
  std::uint16_t closed;
  {
    StandInUpstream gone;
    closed = gone.port();
  }
  auto r = check(
      {"--upstream", "http://127.0.0.1:" + std::to_string(closed), "--connect-timeout", "2s"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "fail", "upstream")) << r.out;
  // The rest is still reported.
  EXPECT_TRUE(has_line(r.out, "ok", "admin")) << r.out;
}

TEST_F(ConfigCheckTest, ExpiredCertificateFailsAndSoonExpiringWarns) {
  const auto cert = tmp.path() / "expired.pem", key = tmp.path() / "expired.key";
  make_expired(cert, key);
  auto r = check({"--tls-cert", cert.string(), "--tls-key", key.string()}, true);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "fail", "certificate")) << r.out;
  EXPECT_TRUE(contains(r.out, "expired")) << r.out;

  // A damaged file is a failed item among the others, not the end of the report.
  const auto damaged = write(tmp.path() / "damaged.pem", read_file(cert).substr(0, 100));
  r = check({"--tls-cert", damaged.string(), "--tls-key", key.string()}, true);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "fail", "certificate")) << r.out;
  EXPECT_TRUE(has_line(r.out, "ok", "upstream")) << r.out;
  // Flags that contradict each other are still a usage error.
  r = check({"--tls-cert", cert.string()}, true);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;

  const auto soon = tmp.path() / "soon.pem", soon_key = tmp.path() / "soon.key";
  make_self_signed(soon, soon_key, 10);
  r = check({"--tls-cert", soon.string(), "--tls-key", soon_key.string()}, true);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "warn", "certificate")) << r.out;

  const auto good = tmp.path() / "good.pem", good_key = tmp.path() / "good.key";
  make_self_signed(good, good_key, 365);
  r = check({"--tls-cert", good.string(), "--tls-key", good_key.string()}, true);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "ok", "certificate")) << r.out;
}

TEST_F(ConfigCheckTest, WrongTokenFailsAndIsNeverPrinted) {
  upstream.serve_as_server("the-right-token");
  auto r = check({"--plex-token", "a-wrong-token"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "fail", "token")) << r.out;
  EXPECT_TRUE(contains(r.out, "401")) << r.out;
  EXPECT_FALSE(contains(r.out + r.err, "a-wrong-token")) << r.out << r.err;

  r = check({"--plex-token", "the-right-token"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "ok", "token")) << r.out;
  EXPECT_TRUE(has_line(r.out, "ok", "enrichment")) << r.out;
  EXPECT_FALSE(contains(r.out + r.err, "the-right-token")) << r.out << r.err;
  auto root = upstream.find("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->header("X-Plex-Token"), "the-right-token");
}

TEST(CliPolishTest, UnknownOptionHelpAndFormatsThatDoNotApply) {
  auto bogus = run_plextap({"--bogus"});
  EXPECT_EQ(bogus.exit_code, 2);
  EXPECT_EQ(lines(bogus.err), 1u) << bogus.err;
  EXPECT_TRUE(contains(bogus.err, "--bogus")) << bogus.err;
  auto bogus_serve = run_plextap({"serve", "--bogus"});
  EXPECT_EQ(bogus_serve.exit_code, 2);
  EXPECT_TRUE(contains(bogus_serve.err, "--bogus")) << bogus_serve.err;

  auto help = run_plextap({"help", "serve"});
  auto dashes = run_plextap({"serve", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.out, dashes.out);
  EXPECT_TRUE(contains(help.out, "--upstream-max-connections")) << help.out;
  auto top = run_plextap({"help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_EQ(top.out, run_plextap({"--help"}).out);
  EXPECT_TRUE(contains(top.out, "check")) << top.out;

  auto csv = run_plextap({"export", "har", "--format", "csv"});
  EXPECT_EQ(csv.exit_code, 2) << csv.err;
  EXPECT_TRUE(contains(csv.err, "--format csv")) << csv.err;
  auto kind = run_plextap({"export", "bogus"});
  EXPECT_EQ(kind.exit_code, 2);
  for (const char* k : {"events", "plays", "runs", "queue_outcomes", "clients", "media", "har"})
    EXPECT_TRUE(contains(kind.err, k)) << k << " missing from " << kind.err;

  auto size = run_plextap({"check", "--store-max-size", "64X"});
  EXPECT_EQ(size.exit_code, 2);
  EXPECT_TRUE(contains(size.err, "--store-max-size")) << size.err;
  auto duration = run_plextap({"check", "--connect-timeout", "1h30"});
  EXPECT_EQ(duration.exit_code, 2);
  EXPECT_TRUE(contains(duration.err, "--connect-timeout")) << duration.err;
}

const fs::path kSample = fs::path(PLEXTAP_SOURCE_DIR) / "examples" / "sample-capture.har";

TEST(CliPolishTest, ReplaySendWithNothingAnsweredExits1) {
  std::uint16_t closed;
  {
    StandInUpstream gone;
    closed = gone.port();
  }
  auto r = run_plextap(
      {"replay", "send", "--har", kSample.string(), "--target",
       "http://127.0.0.1:" + std::to_string(closed), "--speed", "max", "--timeout", "2s"},
      30s);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "was answered")) << r.err;
}

TEST(CliPolishTest, ReplayServeWritesItsOwnPlextapFieldsOnce) {
  TempDir tmp;
  std::string har = read_file(kSample);
  const std::string at = "\"name\": \"X-Plex-Protocol\",";
  const auto pos = har.find(at);
  ASSERT_NE(pos, std::string::npos);
  // The first answer (/identity) as recorded through a replay: the stand-in's fields in it.
  har.replace(pos, at.size(),
              "\"name\": \"x-plextap-replayed\", \"value\": \"99\"}, {\"name\": "
              "\"X-Plextap-Truncated\", \"value\": \"old\"}, {\"name\": "
              "\"X-PLEXTAP-Replay-Miss\", \"value\": \"1\"}, {\"name\": "
              "\"X-Plextap-Via\", \"value\": \"another plextap\"}, {" +
                  at);
  const auto file = write(tmp.path() / "recorded.har", har);
  Child replay({"replay", "serve", "--har", file.string(), "--listen", "http://127.0.0.1:0",
                "--admin", "127.0.0.1:0", "--threads", "1"});
  ASSERT_TRUE(replay.wait_err(
      [](const std::string& err) { return contains(err, "admin on http://127.0.0.1:"); }, 10s))
      << replay.err();
  const auto port = port_after(replay.err(), "listening on http://127.0.0.1:");
  ASSERT_NE(port, 0);
  auto c = HttpClient::plain(port, 10s);
  auto res = c->send(c->request(http::verb::get, "/identity"));
  EXPECT_EQ(res.result_int(), 200);
  std::size_t replayed = 0, others = 0;
  std::string names;
  for (const auto& field : res) {
    const std::string_view name(field.name_string().data(), field.name_string().size());
    names.append(name).append("\n");
    if (capture::iequals(name, "X-Plextap-Replayed"))
      ++replayed;
    else if (capture::istarts_with(name, "X-Plextap-"))
      ++others;
  }
  EXPECT_EQ(replayed, 1u);
  EXPECT_NE(res["X-Plextap-Replayed"], "99");
  // A hit that says it missed, or a field of another plextap: not the stand-in's to repeat.
  EXPECT_EQ(others, 0u) << names;
}

}  // namespace
}  // namespace plextap::itest
