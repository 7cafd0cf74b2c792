#include "capture/client_info.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace plextap::capture {
namespace {

TEST(ClientInfo, FromQueryInAnyLetterCase) {
  // Plex Web sends everything in the query string.
  auto params = decode_query(
      "/:/timeline?state=playing&X-Plex-Product=Plex%20Web&x-plex-version=4.116.1"
      "&X-PLEX-CLIENT-IDENTIFIER=fakeclientid0webchrome01&X-Plex-Platform=Chrome"
      "&X-Plex-Platform-Version=120.0&X-Plex-Model=bundled&X-Plex-Device=Linux"
      "&X-Plex-Device-Name=Chrome&X-Plex-Device-Vendor=Acme"
      "&X-Plex-Session-Id=00000000-0000-4000-8000-000000000001"
      "&X-Plex-Session-Identifier=fakeplaybacksession00001");
  auto info = client_info({}, params);
  EXPECT_EQ(info.id, "fakeclientid0webchrome01");
  EXPECT_EQ(info.product, "Plex Web");
  EXPECT_EQ(info.version, "4.116.1");
  EXPECT_EQ(info.platform, "Chrome");
  EXPECT_EQ(info.platform_version, "120.0");
  EXPECT_EQ(info.device, "Linux");
  EXPECT_EQ(info.device_name, "Chrome");
  EXPECT_EQ(info.device_vendor, "Acme");
  EXPECT_EQ(info.model, "bundled");
  // X-Plex-Session-Id is the web app's session, not the playback session.
  EXPECT_EQ(info.session, "fakeplaybacksession00001");
}

TEST(ClientInfo, FromHeadersInAnyLetterCase) {
  const std::vector<Header> headers = {
      {"x-plex-client-identifier", "fakewindowsclient0000001"},
      {"X-PLEX-PRODUCT", "Plex for Windows"},
      {"X-Plex-Platform", "windows"},
      {"x-plex-platform-version", "10.0.22000"},
      {"X-Plex-Device-Name", "Net-Hunter"},
      {"X-Plex-Session-Identifier", "fakewindowsplayback00001"},
  };
  auto info = client_info(headers, {});
  EXPECT_EQ(info.id, "fakewindowsclient0000001");
  EXPECT_EQ(info.product, "Plex for Windows");
  EXPECT_EQ(info.platform, "windows");
  EXPECT_EQ(info.platform_version, "10.0.22000");
  EXPECT_EQ(info.device_name, "Net-Hunter");
  EXPECT_EQ(info.session, "fakewindowsplayback00001");
  EXPECT_EQ(info.version, "");
  EXPECT_EQ(info.model, "");
}

TEST(ClientInfo, HeaderWinsAndEmptyCountsAsAbsent) {
  const std::vector<Header> headers = {
      {"X-Plex-Product", "from-header"},
      {"X-Plex-Version", ""},
      {"X-Plex-Device", "first"},
      {"x-plex-device", "second"},
  };
  auto params = decode_query("/a?x-plex-product=from-query&X-Plex-Version=2.0&X-Plex-Model=m");
  auto info = client_info(headers, params);
  EXPECT_EQ(info.product, "from-header");
  EXPECT_EQ(info.version, "2.0");
  EXPECT_EQ(info.device, "first");
  EXPECT_EQ(info.model, "m");
}

TEST(FindToken, HeaderThenQuery) {
  const std::vector<Header> headers = {{"x-plex-token", "HEADER-TOKEN"}};
  auto params = decode_query("/a?X-Plex-Token=QUERY-TOKEN");
  EXPECT_EQ(find_token(headers, params), "HEADER-TOKEN");
  EXPECT_EQ(find_token({}, params), "QUERY-TOKEN");
  EXPECT_EQ(find_token({}, decode_query("/a?x-plex-TOKEN=eyJhbGciOi.x.y")), "eyJhbGciOi.x.y");
  EXPECT_FALSE(find_token({}, decode_query("/a?X-Plex-Tokenish=1&X-Plex-Token=")).has_value());
}

TEST(StripToken, DropsTokenParamsAndRedactsNestedOnes) {
  auto params = decode_query(
      "/photo/:/"
      "transcode?width=240&url=%2Flibrary%2Fmetadata%2F65547%2Fthumb%3FX-Plex-Token%3DSECRET1"
      "&X-Plex-Token=SECRET2&x-plex-token=SECRET3&X-Plex-Client-Identifier=c1");
  strip_token(params);
  ASSERT_EQ(params.size(), 3u);
  EXPECT_EQ(params[0].name, "width");
  EXPECT_EQ(params[1].name, "url");
  EXPECT_EQ(params[1].value, "/library/metadata/65547/thumb?X-Plex-Token=REDACTED");
  EXPECT_EQ(params[2].name, "X-Plex-Client-Identifier");
  for (const auto& p : params) EXPECT_EQ(p.value.find("SECRET"), std::string::npos) << p.name;
}

// Names the server reads as X-Plex-Token once decoded, and nested tokens whose name is
// encoded inside the value, are handled alike.
TEST(StripToken, EncodedNames) {
  auto params = decode_query(
      "/a?X%252DPlex%252DToken=SECRET1&x%2Dplex%2dTOKEN=SECRET2&"
      "url=%2Fp%3FX%252DPlex%252DToken%253DSECRET3&X-Plex-Tokenizer=kept");
  strip_token(params);
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "url");
  EXPECT_EQ(params[0].value, "/p?X%2DPlex%2DToken%3DREDACTED");
  EXPECT_EQ(params[1].name, "X-Plex-Tokenizer");
  EXPECT_EQ(params[1].value, "kept");
}

}  // namespace
}  // namespace plextap::capture
