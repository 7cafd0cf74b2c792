// The usual setup of a proxy test: a stand-in upstream, and plextap (started by the
// test, with the flags it needs) forwarding to it; plus client shortcuts.
#pragma once

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/client.hpp"
#include "tests/integration/common.hpp"
#include "tests/integration/process.hpp"
#include "tests/integration/upstream.hpp"

namespace plextap::itest {

class ProxyTest : public ::testing::Test {
 protected:
  // A peer closing mid-write must fail the write, not kill the test binary.
  ProxyTest() { std::signal(SIGPIPE, SIG_IGN); }

  // What plextap said is the first thing to read when a test fails.
  void TearDown() override {
    if (HasFailure() && proxy)
      std::printf("---- plextap stderr ----\n%s------------------------\n",
                  proxy->stderr_text().c_str());
  }

  // `extra` may hold its own --threads (e.g. `--threads 1`: one upstream pool for all clients).
  void start(const std::vector<std::string>& extra = {}) {
    proxy = std::make_unique<PlextapProcess>(upstream.port(), extra);
  }

  std::unique_ptr<HttpClient> https(std::chrono::milliseconds limit = kClientLimit) {
    return HttpClient::tls(proxy->https_port(), proxy->ca_file(), limit);
  }
  std::unique_ptr<HttpClient> http(std::chrono::milliseconds limit = kClientLimit) {
    return HttpClient::plain(proxy->http_port(), limit);
  }
  std::unique_ptr<HttpClient> client(bool tls) { return tls ? https() : http(); }

  // Fails the test if plextap has died, or no longer answers a plain GET.
  void expect_still_serving() {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a crash takes a moment
    auto code = proxy->wait_exit(std::chrono::milliseconds(0));
    ASSERT_FALSE(code) << "plextap exited with " << *code;
    auto c = http(std::chrono::seconds(10));
    auto res = c->send(c->request(http::verb::get, "/small?alive"));
    EXPECT_EQ(res.result_int(), 200);
  }

  // One GET on the admin listener.
  Response admin_get(const std::string& target) {
    auto c = HttpClient::plain(proxy->admin_port(), std::chrono::seconds(10));
    return c->send(c->request(http::verb::get, target));
  }

  // Declared first, destroyed last: plextap goes before its upstream does.
  StandInUpstream upstream;
  std::unique_ptr<PlextapProcess> proxy;
};

}  // namespace plextap::itest
