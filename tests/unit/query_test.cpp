#include "capture/query.hpp"

#include <gtest/gtest.h>

namespace plextap::capture {
namespace {

TEST(PathOf, StopsAtQueryOrFragment) {
  EXPECT_EQ(path_of("/:/timeline?state=playing"), "/:/timeline");
  EXPECT_EQ(path_of("/a#frag?x"), "/a");
  EXPECT_EQ(path_of("/plain"), "/plain");
  EXPECT_EQ(path_of(""), "");
}

TEST(PathOf, AbsoluteForm) {
  EXPECT_EQ(path_of("http://127.0.0.1:32400/:/rate?key=1"), "/:/rate");
  EXPECT_EQ(path_of("https://plex.example.com"), "/");
  EXPECT_EQ(path_of("http://host?x=1"), "/");
}

TEST(QueryOf, RawQueryWithoutFragment) {
  EXPECT_EQ(query_of("/a?b=1&c=%20#f"), "b=1&c=%20");
  EXPECT_EQ(query_of("/a"), "");
  EXPECT_EQ(query_of("/a?"), "");
}

TEST(DecodeQuery, PercentAndPlus) {
  auto params = decode_query(
      "/playQueues?uri=server%3A%2F%2F96f2%2Fcom.plexapp.plugins.library%2Flibrary%2Fmetadata%"
      "2F65547"
      "&X-Plex-Product=Plex%20Web&query=dead+poop&empty=&flag");
  ASSERT_EQ(params.size(), 5u);
  EXPECT_EQ(params[0].name, "uri");
  EXPECT_EQ(params[0].value, "server://96f2/com.plexapp.plugins.library/library/metadata/65547");
  EXPECT_EQ(params[1].value, "Plex Web");
  EXPECT_EQ(params[2].value, "dead poop");
  EXPECT_EQ(params[3].name, "empty");
  EXPECT_EQ(params[3].value, "");
  EXPECT_EQ(params[4].name, "flag");
  EXPECT_EQ(params[4].value, "");
}

TEST(DecodeQuery, RepeatedNamesKeptInOrder) {
  auto params = decode_query("/a?x=1&y=2&x=3&&x=");
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].value, "1");
  EXPECT_EQ(params[2].name, "x");
  EXPECT_EQ(params[2].value, "3");
  EXPECT_EQ(params[3].value, "");
  ASSERT_NE(find_param(params, "x"), nullptr);
  EXPECT_EQ(*find_param(params, "x"), "1");
  EXPECT_EQ(find_param(params, "X"), nullptr);
  EXPECT_EQ(find_param(params, "z"), nullptr);
}

TEST(DecodeQuery, MalformedEscapesKeptVerbatim) {
  auto params = decode_query("/a?p=100%&q=%zz%4&r=%4a%4A&%3D=%3d&s=a=b");
  ASSERT_EQ(params.size(), 5u);
  EXPECT_EQ(params[0].value, "100%");
  EXPECT_EQ(params[1].value, "%zz%4");
  EXPECT_EQ(params[2].value, "JJ");
  EXPECT_EQ(params[3].name, "=");  // an encoded '=' belongs to the name
  EXPECT_EQ(params[3].value, "=");
  EXPECT_EQ(params[4].value, "a=b");  // only the first '=' splits
}

TEST(DecodeQuery, StopsAtFragmentAndKeepsBytes) {
  auto params = decode_query("/a?t=%E6%9D%B1%00x#ignored=1");
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].value, std::string("\xE6\x9D\xB1\0x", 5));
}

TEST(DecodeQuery, NoQuery) {
  EXPECT_TRUE(decode_query("/:/timeline").empty());
  EXPECT_TRUE(decode_query("/:/timeline?").empty());
}

}  // namespace
}  // namespace plextap::capture
