// Tokens through the real binary (DESIGN section 1): `plextap serve --record all` in front
// of a scripted server that hands tokens back in every place Plex does (Location headers,
// account and resource answers in XML and JSON, gzip-compressed), with clients that spell
// the token in every way the server still reads it. Whatever plextap writes (its data
// directory, `export events`, `export har`, the access log, stderr) never holds a token,
// while clients and server see every byte as sent, and `replay serve` answers with the
// recorded bodies, the tokens replaced.
// Long on purpose: every place a token can hide, and every output it must not reach.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <zlib.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "tests/integration/client.hpp"
#include "tests/integration/common.hpp"
#include "tests/integration/process.hpp"
#include "tests/integration/recording_support.hpp"

namespace plextap::itest {
namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
using net::ip::tcp;
using namespace std::chrono_literals;

std::string gzip(std::string_view in) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Percent-encodes every byte, letters too.
std::string encode_every_byte(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    out += '%';
    out += kHex[u >> 4];
    out += kHex[u & 15];
  }
  return out;
}

std::string encode_times(std::string s, int times) {
  for (int i = 0; i < times; ++i) s = url_encode(s);
  return s;
}

// A server that answers each path with a response written out in full (status line,
// headers, body) and closes the connection after it: one connection at a time, in
// order, so that what it received is simply a list.
class ScriptedServer {
 public:
  struct Received {
    std::string target, body;
  };

  ScriptedServer() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~ScriptedServer() {
    stopping_ = true;
    thread_.join();
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  // `json`: the answer to a request whose Accept names JSON, when there is one.
  void answer(const std::string& path, std::string response, std::string json = {}) {
    std::lock_guard lock(mu_);
    answers_[path] = {std::move(response), std::move(json)};
  }

  std::vector<Received> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }

  static std::string response(unsigned status, std::string_view headers, std::string_view body) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Found");
    r += "\r\n";
    r += headers;
    r += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    r += body;
    return r;
  }

 private:
  void loop() {
    while (!stopping_) {
      pollfd p{acceptor_.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      tcp::socket socket(ioc_);
      error_code ec;
      acceptor_.accept(socket, ec);
      if (!ec) serve(socket);
    }
  }

  void serve(tcp::socket& socket) {
    beast::flat_buffer buffer;
    beast::http::request<beast::http::string_body> req;
    error_code ec;
    beast::http::read(socket, buffer, req, ec);
    if (ec) return;
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?'));
    std::string out = response(200, "Content-Type: text/plain\r\n", "no such path");
    {
      std::lock_guard lock(mu_);
      received_.push_back({target, req.body()});
      auto it = answers_.find(path);
      if (it != answers_.end()) {
        bool json = contains(std::string(req[beast::http::field::accept]), "json");
        out = json && !it->second.second.empty() ? it->second.second : it->second.first;
      }
    }
    net::write(socket, net::buffer(out), ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> answers_;
  std::vector<Received> received_;
  std::thread thread_;
};

// One secret per place it travels, so that a leak says where it came from.
struct Secrets {
  std::string encoded_name = "tokEncodedName1a2b";
  std::string lower_hex_name = "tokLowerHex3c4d";
  std::string partly_encoded_name = "tokPartly5e6f";
  std::string twice_encoded_name = "tokTwice7a8b";
  std::string nested_three_deep = "tokNestedDeep9c0d";
  std::string nested_in_media = "tokNestedMedia1e2f";
  std::string value_encoded = "tokValueEncoded3a4b";
  std::string semicolon = "tokSemicolon5c6d";
  std::string form_body = "tokFormBody7e8f";
  std::string form_encoded_name = "tokFormName9a0b";
  std::string multipart = "tokMultipart4d6e";
  std::string location = "tokLocation1c2d";
  std::string content_location = "tokContentLoc3e4f";
  std::string referer = "tokReferer5a6b";
  std::string xml_account = "tokXmlAccount7c8d";
  std::string json_account = "tokJsonAccount9e0f";
  std::string resources = "tokResources1a3c";
  std::string transient = "tokTransient2b4d";
  std::string tapped_answer = "tokTappedAnswer5e7f";
  std::string header = "tokHeader6a8c";

  std::vector<std::string> all() const {
    return {encoded_name,
            lower_hex_name,
            partly_encoded_name,
            twice_encoded_name,
            nested_three_deep,
            nested_in_media,
            value_encoded,
            semicolon,
            form_body,
            form_encoded_name,
            multipart,
            location,
            content_location,
            referer,
            xml_account,
            json_account,
            resources,
            transient,
            tapped_answer,
            header};
  }
};

class RedactionTest : public ::testing::Test {
 protected:
  RedactionTest() { std::signal(SIGPIPE, SIG_IGN); }

  void TearDown() override {
    if (HasFailure() && proxy)
      std::printf("---- plextap stderr ----\n%s------------------------\n",
                  proxy->stderr_text().c_str());
  }

  fs::path data_dir() const { return proxy->dir() / "data"; }
  fs::path access_log() const { return logs.path() / "access.log"; }

  // Every answer the scripted server knows, tokens included where Plex puts them.
  void script_answers() {
    const std::string xml = "Content-Type: text/xml;charset=utf-8\r\n";
    server.answer("/library/sections",
                  ScriptedServer::response(200, xml, R"(<MediaContainer size="0"/>)"));
    server.answer("/library/onDeck",
                  ScriptedServer::response(200, xml, R"(<MediaContainer size="0"/>)"));
    server.answer("/:/prefs", ScriptedServer::response(200, xml, ""));
    server.answer("/photo/:/transcode",
                  ScriptedServer::response(200, "Content-Type: image/jpeg\r\n", "\xff\xd8jpeg"));
    server.answer(
        "/web/login",
        ScriptedServer::response(302,
                                 "Location: /web/index.html#!/?X-Plex-Token=" + secrets.location +
                                     "\r\nContent-Location: /web/login?X%2DPlex%2DToken=" +
                                     secrets.content_location + "\r\n",
                                 ""));
    account_xml = R"(<?xml version="1.0" encoding="UTF-8"?>)"
                  "\n"
                  R"(<MyPlex authToken=")" +
                  secrets.xml_account +
                  R"(" username="fake@example.com" mappingState="mapped" signInState="ok" )"
                  R"(subscriptionActive="1" />)";
    account_json = R"({"MyPlex":{"authToken":")" + secrets.json_account +
                   R"(","username":"fake@example.com","mappingState":"mapped"}})";
    server.answer("/myplex/account", ScriptedServer::response(200, xml, account_xml),
                  ScriptedServer::response(
                      200, "Content-Type: application/json\r\nContent-Encoding: gzip\r\n",
                      gzip(account_json)));
    server.answer("/security/resources",
                  ScriptedServer::response(
                      200, xml + "Content-Encoding: gzip\r\n",
                      gzip(R"(<MediaContainer size="1"><Device name="srv" accessToken=")" +
                           secrets.resources +
                           R"(" clientIdentifier="c0ffee"><Connection uri="https://h:32400"/>)"
                           R"(</Device></MediaContainer>)")));
    server.answer("/security/token",
                  ScriptedServer::response(200, xml,
                                           R"(<MediaContainer size="0" token="transient-)" +
                                               secrets.transient + R"("/>)"));
    // A tapped kind whose gzip answer names the token in a URL.
    server.answer("/hubs/search",
                  ScriptedServer::response(
                      200, xml + "Content-Encoding: gzip\r\n",
                      gzip(R"(<MediaContainer size="1"><Hub hubIdentifier="movie" type="movie" )"
                           R"(size="1" more="0"><Video ratingKey="7" type="movie" title="Aladdin" )"
                           R"(thumb="/library/metadata/7/thumb/1?X-Plex-Token=)" +
                           secrets.tapped_answer + R"("/></Hub></MediaContainer>)")));
  }

  struct Sent {
    http::verb method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
  };

  // The requests, each carrying one secret its own way.
  std::vector<Sent> requests() const {
    const auto& s = secrets;
    const std::string form = "application/x-www-form-urlencoded";
    return {
        {http::verb::get, "/library/sections?X%2DPlex%2DToken=" + s.encoded_name, {}, {}},
        {http::verb::get,
         "/library/sections?includePreferences=1&x%2dplex%2dtoken=" + s.lower_hex_name,
         {},
         {}},
        {http::verb::get, "/library/onDeck?X-Plex%2DToken=" + s.partly_encoded_name, {}, {}},
        {http::verb::get, "/library/onDeck?X%252DPlex%252DToken=" + s.twice_encoded_name, {}, {}},
        {http::verb::get,
         "/library/sections?url=" +
             encode_times(
                 "/library/metadata/1/thumb/2?X-Plex-Token=" + s.nested_three_deep + "&width=100",
                 3) +
             "&height=90",
         {},
         {}},
        {http::verb::get,
         "/photo/:/transcode?width=240&url=" +
             encode_times("/library/metadata/1/thumb/2?X-Plex-Token=" + s.nested_in_media, 2),
         {},
         {}},
        {http::verb::get,
         "/library/onDeck?X-Plex-Token=" + encode_every_byte(s.value_encoded),
         {},
         {}},
        {http::verb::get, "/library/sections?a=1;X-Plex-Token=" + s.semicolon + ";b=2", {}, {}},
        {http::verb::put,
         "/:/prefs",
         {{"Content-Type", form}},
         "FriendlyName=srv&X-Plex-Token=" + s.form_body + "&b=1"},
        {http::verb::put,
         "/:/prefs",
         {{"Content-Type", form}},
         "a=1&" + encode_every_byte("X-Plex-Token") + "=" + s.form_encoded_name},
        {http::verb::put,
         "/:/prefs",
         {{"Content-Type", "multipart/form-data; boundary=XyZ"}},
         "--XyZ\r\nContent-Disposition: form-data; name=\"FriendlyName\"\r\n\r\nsrv\r\n"
         "--XyZ\r\nContent-Disposition: form-data; name=\"X-Plex-Token\"\r\n\r\n" +
             s.multipart + "\r\n--XyZ--\r\n"},
        {http::verb::get, "/web/login", {}, {}},
        {http::verb::get,
         "/library/sections",
         {{"Referer", "https://app.plex.tv/desktop/?X%2DPlex%2DToken=" + s.referer}},
         {}},
        {http::verb::get, "/myplex/account", {{"X-Plex-Token", s.header}}, {}},
        {http::verb::get,
         "/myplex/account",
         {{"Accept", "application/json"}, {"Accept-Encoding", "gzip"}},
         {}},
        {http::verb::get, "/security/resources", {{"Accept-Encoding", "gzip"}}, {}},
        {http::verb::get, "/security/token?type=delegation&scope=all", {}, {}},
        {http::verb::get, "/hubs/search?query=aladdin&limit=10", {{"Accept-Encoding", "gzip"}}, {}},
    };
  }
  // Requests above that are media (/photo/:/transcode) and so never stored.
  static constexpr std::size_t kMediaRequests = 1;

  // Sends one request on a fresh connection (the server closes each one) and returns the
  // answer as the client got it.
  Response send(const Sent& s) {
    auto c = HttpClient::plain(proxy->http_port(), 10s);
    auto req = c->request(s.method, s.target);
    for (const auto& [n, v] : s.headers) req.set(n, v);
    if (!s.body.empty()) req.body() = s.body;
    return c->send(std::move(req));
  }

  // Fails the test for every secret found in `text`, naming `where`.
  void expect_no_secret(const std::string& text, const std::string& where) {
    for (const auto& secret : secrets.all()) {
      EXPECT_FALSE(contains(text, secret)) << secret << " in " << where;
      EXPECT_FALSE(contains(text, encode_every_byte(secret))) << secret << " in " << where;
    }
  }

  Secrets secrets;
  std::string account_xml, account_json;
  TempDir logs;
  ScriptedServer server;  // declared before the proxy: it outlives it
  std::unique_ptr<PlextapProcess> proxy;
};

TEST_F(RedactionTest, NoTokenIsWrittenAnywhereWhateverItsSpellingOrPlace) {
  script_answers();
  proxy = std::make_unique<PlextapProcess>(
      server.port(), std::vector<std::string>{"--record", "all", "--no-enrich", "--access-log",
                                              access_log().string()});
  const auto sent = requests();
  std::vector<Response> got;
  for (const auto& s : sent) {
    SCOPED_TRACE(s.target);
    ASSERT_NO_THROW(got.push_back(send(s)));
  }

  // Forwarding is untouched: the server read every token as sent, the clients got them.
  const auto received = server.received();
  ASSERT_EQ(received.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(received[i].target, sent[i].target);
    EXPECT_EQ(received[i].body, sent[i].body);
  }
  EXPECT_EQ(got[11].result_int(), 302);
  EXPECT_EQ(got[11][http::field::location], "/web/index.html#!/?X-Plex-Token=" + secrets.location);
  EXPECT_EQ(got[13].body(), account_xml);
  EXPECT_EQ(got[14][http::field::content_encoding], "gzip");
  EXPECT_EQ(got[14].body(), gzip(account_json));

  // Everything stored, then serve stopped so that every line of the access log is out.
  const std::size_t stored = sent.size() - kMediaRequests;
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = run_plextap({"export", "events", "--data", data_dir().string()});
        return split_lines(r.out).size() >= stored;
      },
      10s));
  proxy->signal(SIGTERM);
  ASSERT_EQ(proxy->wait_exit(15s), 0);

  auto events = run_plextap({"export", "events", "--data", data_dir().string()});
  ASSERT_EQ(events.exit_code, 0) << events.err;
  auto lines = export_result_lines(events, "events");
  ASSERT_EQ(lines.size(), stored);
  auto har = run_plextap({"export", "har", "--data", data_dir().string()});
  ASSERT_EQ(har.exit_code, 0) << har.err;
  const std::string log = read_file(access_log());
  ASSERT_EQ(split_lines(log).size(), sent.size()) << log;

  expect_no_secret(events.out, "export events");
  expect_no_secret(har.out, "export har");
  expect_no_secret(log, "the access log");
  expect_no_secret(proxy->stderr_text(), "serve's stderr");
  expect_no_secret(events.err + har.err, "export's stderr");
  for (const auto& file : files_under(proxy->dir()))
    expect_no_secret(read_file(file), file.filename().string());
  ASSERT_FALSE(files_under(data_dir()).empty());

  // The rest is kept: the redacted forms are where the tokens were.
  EXPECT_TRUE(contains(har.out, "/library/sections?X%2DPlex%2DToken=REDACTED")) << har.out;
  EXPECT_TRUE(contains(har.out, "/web/index.html#!/?X-Plex-Token=REDACTED"));
  EXPECT_TRUE(contains(har.out, "FriendlyName=srv&X-Plex-Token=REDACTED&b=1"));
  EXPECT_TRUE(contains(har.out, R"(<MyPlex authToken=\"REDACTED\" username=\"fake@example.com\")"));
  EXPECT_TRUE(contains(har.out, R"({\"MyPlex\":{\"authToken\":\"REDACTED\",)"));
  EXPECT_TRUE(contains(har.out, R"(accessToken=\"REDACTED\" clientIdentifier=\"c0ffee\")"));
  EXPECT_TRUE(contains(har.out, R"(token=\"REDACTED\")"));
  EXPECT_TRUE(contains(log, "X-Plex-Token=REDACTED")) << log;
  // The tapped answer still parses, from the redacted body.
  bool found_search = false;
  for (const auto& e : lines) {
    if (e.str("/kind") != "search") continue;
    found_search = true;
    EXPECT_EQ(e.json("/result_count"), "1") << e.text();
    EXPECT_FALSE(e.has("/parse_error")) << e.text();
  }
  EXPECT_TRUE(found_search);
  // The server reads an encoded name as the token: the event names the user by it.
  EXPECT_EQ(lines[0].str("/path"), "/library/sections");
  EXPECT_EQ(lines[0].str("/user/token_fp").size(), 16u) << lines[0].text();
  EXPECT_EQ(lines[0].json("/params"), "{}") << lines[0].text();

  // replay serve answers with the recorded bodies: the same bytes but the token.
  std::vector<std::string> args{"replay",    "serve",
                                "--data",    data_dir().string(),
                                "--listen",  "http://127.0.0.1:0",
                                "--admin",   "127.0.0.1:0",
                                "--threads", "2"};
  Child replay(args);
  ASSERT_TRUE(replay.wait_err(
      [](const std::string& err) { return contains(err, "admin on http://127.0.0.1:"); }, 10s))
      << replay.err();
  auto port = port_after(replay.err(), "listening on http://127.0.0.1:");
  auto c = HttpClient::plain(port, 10s);
  auto res = c->send(c->request(http::verb::get, "/myplex/account"));
  EXPECT_EQ(res.result_int(), 200);
  std::string expected_xml = account_xml;
  expected_xml.replace(expected_xml.find(secrets.xml_account), secrets.xml_account.size(),
                       "REDACTED");
  EXPECT_EQ(res.body(), expected_xml);
  auto json_req = c->request(http::verb::get, "/myplex/account");
  json_req.set(http::field::accept, "application/json");
  // The second recorded answer of the same call was the JSON one.
  res = c->send(std::move(json_req));
  std::string expected_json = account_json;
  expected_json.replace(expected_json.find(secrets.json_account), secrets.json_account.size(),
                        "REDACTED");
  EXPECT_EQ(res.body(), expected_json);
  EXPECT_EQ(res[http::field::content_encoding], "");
  expect_no_secret(replay.err(), "replay serve's stderr");
}

}  // namespace
}  // namespace plextap::itest
