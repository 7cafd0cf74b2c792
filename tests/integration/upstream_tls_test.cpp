// An https upstream, as a Plex server with its own certificate is: the proxy verifies
// it against the CA it is given (or the system's), asks for and checks the name given
// with --upstream-sni, and answers 502 naming the reason when the check fails, unless
// told not to verify.
#include <filesystem>

#include "tests/integration/fixture.hpp"
#include "tests/integration/tls_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class UpstreamTlsTest : public ProxyTest {
 protected:
  // The stand-in upstream behind TLS, with a certificate for `name` from a CA of its own.
  void put_upstream_behind_tls(const std::string& name) {
    issue_certificates(upstream_certs(), {name});
    front = std::make_unique<TlsFront>(upstream.port(), upstream_certs() / "server.pem",
                                       upstream_certs() / "server.key");
  }
  fs::path upstream_certs() const { return tmp.path() / "upstream-certs"; }
  fs::path upstream_ca() const { return upstream_certs() / "ca.pem"; }
  std::string front_url() const { return "https://127.0.0.1:" + std::to_string(front->port()); }
  void start_https(const std::vector<std::string>& extra) {
    proxy = std::make_unique<PlextapProcess>(front_url(), extra);
  }

  TempDir tmp;
  std::unique_ptr<TlsFront> front;  // after `upstream`: stops before it
};

TEST_F(UpstreamTlsTest, ForwardsOverTlsVerifiedWithTheGivenCa) {
  put_upstream_behind_tls("127.0.0.1");
  start_https({"--upstream-ca", upstream_ca().string()});
  for (bool tls : {false, true}) {
    auto c = client(tls);
    auto res = c->send(c->request(http::verb::get, "/small"));
    EXPECT_EQ(res.result_int(), 200) << res.body();
    EXPECT_EQ(res.body(), StandInUpstream::kSmallBody);
    // A body larger than any buffer on the way, checked byte by byte.
    constexpr std::uint64_t kSize = 6 * 1024 * 1024 + 7;
    PatternChecker check;
    c->stream(c->request(http::verb::get, "/bytes?n=" + std::to_string(kSize)), nullptr,
              [&](std::string_view piece) {
                check.feed(piece);
                return true;
              });
    EXPECT_EQ(check.offset(), kSize);
    EXPECT_TRUE(check.ok()) << "first bad byte at " << check.first_bad();
    // Keep-alive towards the server over TLS: both requests of this client went over one
    // pooled connection (one handshake).
    auto seen = upstream.requests();
    ASSERT_GE(seen.size(), 2u);
    EXPECT_EQ(seen[seen.size() - 1].connection, seen[seen.size() - 2].connection);
  }
  {
    // The notifications websocket, tunnelled over the TLS connection to the server.
    WsClient ws(proxy->https_port(), proxy->ca_file(), "/:/websockets/notifications");
    EXPECT_EQ(ws.upgrade_status(), 101u);
    EXPECT_EQ(ws.read(), StandInUpstream::kNotification);
    ws.write("ping over two TLS hops");
    EXPECT_EQ(ws.read(), "ping over two TLS hops");
    EXPECT_FALSE(ws.close());
  }
  EXPECT_EQ(upstream.count("/small"), 2u);
  EXPECT_LE(front->handshakes_completed(), 3u) << "a handshake per request?";
  for (const auto& sni : front->server_names())
    EXPECT_EQ(sni, "") << "an address is never sent as SNI";
  EXPECT_NE(proxy->stderr_text().find("(TLS, verifying the name 127.0.0.1)"), std::string::npos)
      << proxy->stderr_text();
}

TEST_F(UpstreamTlsTest, SniNameIsSentAndVerified) {
  put_upstream_behind_tls("10-0-0-5.0123456789abcdef.plex.direct");
  start_https({"--upstream-ca", upstream_ca().string(), "--upstream-sni",
               "10-0-0-5.0123456789abcdef.plex.direct"});
  auto c = http();
  auto res = c->send(c->request(http::verb::get, "/small"));
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(res.body(), StandInUpstream::kSmallBody);
  EXPECT_EQ(front->server_names(),
            std::vector<std::string>{"10-0-0-5.0123456789abcdef.plex.direct"});
}

TEST_F(UpstreamTlsTest, NameMismatchIs502UnlessInsecure) {
  put_upstream_behind_tls("pms.example.test");
  start_https({"--upstream-ca", upstream_ca().string()});
  {
    auto c = http();
    auto res = c->send(c->request(http::verb::get, "/small"));
    EXPECT_EQ(res.result_int(), 502);
    EXPECT_NE(res.body().find("<Response code=\"502\""), std::string::npos) << res.body();
    EXPECT_NE(res.body().find("certificate verify failed (IP address mismatch)"), std::string::npos)
        << res.body();
    EXPECT_NE(res.body().find(front_url()), std::string::npos) << res.body();
  }
  EXPECT_EQ(upstream.count("/small"), 0u) << "nothing may reach an unverified server";

  proxy.reset();
  start_https({"--upstream-insecure"});
  EXPECT_NE(proxy->stderr_text().find("not verified (--upstream-insecure)"), std::string::npos)
      << proxy->stderr_text();
  auto c = http();
  auto res = c->send(c->request(http::verb::get, "/small"));
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(upstream.count("/small"), 1u);
}

TEST_F(UpstreamTlsTest, SystemTrustStoreIsTheDefault) {
  put_upstream_behind_tls("127.0.0.1");
  start_https({});
  auto c = https();
  auto res = c->send(c->request(http::verb::get, "/small"));
  EXPECT_EQ(res.result_int(), 502);
  // The server sends its chain up to its private CA, which no system store holds: the
  // check fails on trust, not on the name.
  EXPECT_NE(
      res.body().find("certificate verify failed (self-signed certificate in certificate chain)"),
      std::string::npos)
      << res.body();
  EXPECT_EQ(upstream.count("/small"), 0u);
}

}  // namespace
}  // namespace plextap::itest
