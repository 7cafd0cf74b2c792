// An https upstream, as a Plex server with its own certificate is: the proxy verifies
// it against the CA it is given (or the system's), asks for and checks the name given
// with --upstream-sni, and answers 502 naming the reason when the check fails, unless
// told not to verify.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "tests/integration/fixture.hpp"
#include "tests/integration/tls_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A server that answers one request with a body that ends when it closes the
// connection (no Content-Length, no chunks): allowed by HTTP/1.1, sent by old servers.
class CloseDelimitedServer {
 public:
  explicit CloseDelimitedServer(std::string body) : body_(std::move(body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 4);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CloseDelimitedServer() {
    thread_.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  void serve() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) return;
    int conn = ::accept(fd_, nullptr, nullptr);
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      pollfd r{conn, POLLIN, 0};
      if (::poll(&r, 1, 10'000) <= 0) break;
      ssize_t n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) break;
      request.append(buf, static_cast<std::size_t>(n));
    }
    std::string answer =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" + body_;
    ::send(conn, answer.data(), answer.size(), MSG_NOSIGNAL);
    ::close(conn);
  }

  std::string body_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

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

// Many servers drop the connection without TLS's closing message; when the body is the
// rest of the connection, that close is its end, as over plain TCP.
TEST_F(UpstreamTlsTest, BodyEndingWithAnAbruptTlsCloseArrivesWhole) {
  const std::string body(100'000, 'c');
  CloseDelimitedServer server(body);
  issue_certificates(upstream_certs(), {"127.0.0.1"});
  front = std::make_unique<TlsFront>(server.port(), upstream_certs() / "server.pem",
                                     upstream_certs() / "server.key", false);
  start_https({"--upstream-ca", upstream_ca().string()});
  auto c = http();
  auto res = c->send(c->request(http::verb::get, "/old-server"));
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body().size(), body.size());
  EXPECT_EQ(res.body(), body);
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
