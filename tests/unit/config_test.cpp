#include "proxy/config.hpp"

#include <gtest/gtest.h>

namespace plextap::proxy {
namespace {

TEST(EndpointUrl, SchemesAndPorts) {
  auto e = parse_endpoint_url("https://0.0.0.0:32443");
  EXPECT_TRUE(e.tls);
  EXPECT_EQ(e.host, "0.0.0.0");
  EXPECT_EQ(e.port, 32443);
  e = parse_endpoint_url("http://plex.local");
  EXPECT_FALSE(e.tls);
  EXPECT_EQ(e.port, 80);
  EXPECT_EQ(parse_endpoint_url("https://host/").port, 443);
}

TEST(EndpointUrl, Ipv6) {
  auto e = parse_endpoint_url("http://[::1]:32401");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 32401);
  EXPECT_EQ(to_string(e), "http://[::1]:32401");
}

TEST(EndpointUrl, Rejects) {
  EXPECT_THROW(parse_endpoint_url("ftp://x:1"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint_url("127.0.0.1:32400"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint_url("http://x:99999"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint_url("http://x:12ab"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint_url("http://x:1/path"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint_url("http://:1"), std::invalid_argument);
}

TEST(HostPort, Parses) {
  auto e = parse_host_port("127.0.0.1:32480");
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 32480);
  EXPECT_THROW(parse_host_port("localhost"), std::invalid_argument);
}

}  // namespace
}  // namespace plextap::proxy
