#include "capture/redact.hpp"

#include <gtest/gtest.h>

namespace plextap::capture {
namespace {

TEST(RedactTarget, ReplacesTokenInQuery) {
  EXPECT_EQ(redact_target("/library/sections?X-Plex-Token=abcDEF123456&b=2"),
            "/library/sections?X-Plex-Token=REDACTED&b=2");
}

TEST(RedactTarget, AnyLetterCaseAndLastParameter) {
  EXPECT_EQ(redact_target("/a?x=1&x-plex-token=secret"), "/a?x=1&x-plex-token=REDACTED");
  EXPECT_EQ(redact_target("/a?X-PLEX-TOKEN=secret#frag"), "/a?X-PLEX-TOKEN=REDACTED#frag");
}

TEST(RedactTarget, EveryOccurrence) {
  EXPECT_EQ(redact_target("/a?X-Plex-Token=one&X-Plex-Token=two"),
            "/a?X-Plex-Token=REDACTED&X-Plex-Token=REDACTED");
}

TEST(RedactTarget, PercentEncodedInsideAnotherParameter) {
  // The web app's photo transcoder URLs carry the token inside `url=`.
  EXPECT_EQ(redact_target(
                "/photo/:/transcode?url=%2Flibrary%2Fthumb%3FX-Plex-Token%3Dsecret%26w%3D1&w=2"),
            "/photo/:/transcode?url=%2Flibrary%2Fthumb%3FX-Plex-Token%3DREDACTED%26w%3D1&w=2");
  EXPECT_EQ(redact_target("/p?url=x%3FX-Plex-Token%253Dsecret%2526a"),
            "/p?url=x%3FX-Plex-Token%253DREDACTED%2526a");
}

TEST(RedactTarget, LeavesOtherTargetsAlone) {
  EXPECT_EQ(redact_target("/library/metadata/42?includeGuids=1"),
            "/library/metadata/42?includeGuids=1");
  EXPECT_EQ(redact_target("/a?X-Plex-Tokenish=1"), "/a?X-Plex-Tokenish=1");
  EXPECT_EQ(redact_target("/a?X-Plex-Token="), "/a?X-Plex-Token=");
}

TEST(RedactTarget, FullUrlInReferer) {
  EXPECT_EQ(redact_target("https://app.plex.tv/desktop/?X-Plex-Token=secret"),
            "https://app.plex.tv/desktop/?X-Plex-Token=REDACTED");
}

TEST(SecretHeaders, Recognised) {
  EXPECT_TRUE(is_secret_header("X-Plex-Token"));
  EXPECT_TRUE(is_secret_header("authorization"));
  EXPECT_TRUE(is_secret_header("Cookie"));
  EXPECT_TRUE(is_secret_header("Set-Cookie"));
  EXPECT_FALSE(is_secret_header("X-Plex-Client-Identifier"));
}

}  // namespace
}  // namespace plextap::capture
