// Token redaction rules: the parameter rule in every spelling a server could still read as
// X-Plex-Token, the key rule of bodies, and what must stay untouched.
#include "capture/redact.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "capture/query.hpp"

namespace plextap::capture {
namespace {

// Percent-encodes every byte, letters too ("X" -> "%58").
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
  for (int i = 0; i < times; ++i) s = encode_component(s);
  return s;
}

// Fails when `secret` shows in `text` or in any of its first 20 decodings.
void expect_hidden(const std::string& text, std::string_view secret) {
  std::string level = text;
  for (int depth = 0; depth <= 20; ++depth) {
    EXPECT_EQ(level.find(secret), std::string::npos) << "after " << depth << " decodings: " << text;
    level = decode_component(level);
  }
}

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

// The server decodes parameter names before it compares them, so an encoded name is a
// token all the same, in either hex case and encoded in part or in full.
TEST(RedactTarget, PercentEncodedNames) {
  EXPECT_EQ(redact_target("/a?X%2DPlex%2DToken=abc&b=1"), "/a?X%2DPlex%2DToken=REDACTED&b=1");
  EXPECT_EQ(redact_target("/a?x%2dplex%2dtoken=abc&b=1"), "/a?x%2dplex%2dtoken=REDACTED&b=1");
  EXPECT_EQ(redact_target("/a?X%2dPlex%2DToken=abc"), "/a?X%2dPlex%2DToken=REDACTED");
  EXPECT_EQ(redact_target("/a?X-Plex%2DToken=abc"), "/a?X-Plex%2DToken=REDACTED");
  EXPECT_EQ(redact_target("/a?%58-%50lex-%54oken=abc&b=1"), "/a?%58-%50lex-%54oken=REDACTED&b=1");
  const std::string every = encode_every_byte("X-Plex-Token");
  EXPECT_EQ(redact_target("/a?b=1&" + every + "=abc"), "/a?b=1&" + every + "=REDACTED");
  // The '=' encoded too: no server reads this as the token, but it stays out of the store.
  EXPECT_EQ(redact_target("/a?X-Plex-Token%3Dabc&b=1"), "/a?X-Plex-Token%3DREDACTED&b=1");
}

// A name encoded twice (the server reads "X%2DPlex%2DToken") is redacted conservatively.
TEST(RedactTarget, NamesEncodedSeveralTimes) {
  EXPECT_EQ(redact_target("/a?X%252DPlex%252DToken=abc&b=1"),
            "/a?X%252DPlex%252DToken=REDACTED&b=1");
  EXPECT_EQ(redact_target("/a?X%25252DPlex-Token=abc"), "/a?X%25252DPlex-Token=REDACTED");
  EXPECT_EQ(redact_target("/a?%2558-Plex%2525%32D%54oken=abc&b=1"),
            "/a?%2558-Plex%2525%32D%54oken=REDACTED&b=1");
}

// The photo transcoder's `url=` is decoded again by the server: a token nested in it, at
// any depth, is replaced and nothing else of the nested URL changes.
TEST(RedactTarget, NestedValuesEncodedManyTimes) {
  const std::string inner = "/library/metadata/5/thumb/1?X-Plex-Token=s3cr3tT0k3n&width=100";
  const std::string redacted = "/library/metadata/5/thumb/1?X-Plex-Token=REDACTED&width=100";
  for (int depth = 1; depth <= 8; ++depth) {
    SCOPED_TRACE(depth);
    std::string target = "/photo/:/transcode?url=" + encode_times(inner, depth) + "&height=90";
    auto out = redact_target(target);
    EXPECT_EQ(out, "/photo/:/transcode?url=" + encode_times(redacted, depth) + "&height=90");
    expect_hidden(out, "s3cr3tT0k3n");
  }
  EXPECT_EQ(redact_target("/photo/:/transcode?url=%252Fp%25253FX-Plex-Token%25253Dabc%252526w"),
            "/photo/:/transcode?url=%252Fp%25253FX-Plex-Token%25253DREDACTED%252526w");
}

// Past kMaxDecodeDepth rounds, whatever is still encoded counts as a token: the rest of
// its parameter goes, the next parameter stays.
TEST(RedactTarget, DeeperThanTheBoundIsRedactedToTheEndOfTheParameter) {
  std::string name = encode_every_byte("X-Plex-Token");
  for (int i = 1; i < kMaxDecodeDepth + 4; ++i) name = encode_component(name);
  auto out = redact_target("/a?u=" + name + "%3Ds3cr3tT0k3n&b=1");
  EXPECT_EQ(out.find("s3cr3tT0k3n"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("REDACTED&b=1")) << out;
  EXPECT_TRUE(out.starts_with("/a?u=")) << out;
}

TEST(RedactTarget, EncodedValues) {
  EXPECT_EQ(redact_target("/a?X-Plex-Token=%61%62%63&b=1"), "/a?X-Plex-Token=REDACTED&b=1");
  // At the top level an encoded '&' is part of the value the server reads.
  EXPECT_EQ(redact_target("/a?X-Plex-Token=abc%26b%3D1&c=2"), "/a?X-Plex-Token=REDACTED&c=2");
  // A token shaped like a signed JWT (three dotted parts; not a real one).
  EXPECT_EQ(redact_target("/a?X-Plex-Token=fake-header.fake-claims.fake-signature&b=1"),
            "/a?X-Plex-Token=REDACTED&b=1");
}

TEST(RedactTarget, SemicolonPlusAndBlanks) {
  EXPECT_EQ(redact_target("/a?b=1;X-Plex-Token=abc;c=2"), "/a?b=1;X-Plex-Token=REDACTED;c=2");
  // '+' is a space inside the value, not its end.
  EXPECT_EQ(redact_target("/a?X-Plex-Token=abc+def&b=1"), "/a?X-Plex-Token=REDACTED&b=1");
  EXPECT_EQ(redact_target("/a?X-Plex-Token+=abc&b=1"), "/a?X-Plex-Token+=REDACTED&b=1");
  EXPECT_EQ(redact_target("/a?X-Plex-Token%20=abc&b=1"), "/a?X-Plex-Token%20=REDACTED&b=1");
  EXPECT_EQ(redact_target("/a?+X-Plex-Token=abc"), "/a?+X-Plex-Token=REDACTED");
  // Blanks around the '=', plain (header values, bodies) or encoded.
  EXPECT_EQ(redact_target("X-Plex-Token + = abc&b=1"), "X-Plex-Token + = REDACTED&b=1");
  EXPECT_EQ(redact_target("/p?url=%3FX-Plex-Token%20%3D%20abc&b=1"),
            "/p?url=%3FX-Plex-Token%20%3D%20REDACTED&b=1");
  EXPECT_EQ(redact_target("/p?url=%3FX-Plex-Token %3D abc&b=1"),
            "/p?url=%3FX-Plex-Token %3D REDACTED&b=1");
}

TEST(RedactTarget, LeavesOtherTargetsAlone) {
  EXPECT_EQ(redact_target("/library/metadata/42?includeGuids=1"),
            "/library/metadata/42?includeGuids=1");
  EXPECT_EQ(redact_target("/a?X-Plex-Tokenish=1"), "/a?X-Plex-Tokenish=1");
  EXPECT_EQ(redact_target("/a?X-Plex-Token="), "/a?X-Plex-Token=");
  EXPECT_EQ(redact_target("/a?X-Plex-Tokenizer=abc"), "/a?X-Plex-Tokenizer=abc");
  EXPECT_EQ(redact_target("/a?X%2DPlex%2DTokenizer=abc"), "/a?X%2DPlex%2DTokenizer=abc");
  EXPECT_EQ(redact_target("/a?X-Plex-Client-Identifier=abc&uri=server%3A%2F%2Fx%2Flibrary"),
            "/a?X-Plex-Client-Identifier=abc&uri=server%3A%2F%2Fx%2Flibrary");
  EXPECT_EQ(redact_target("/a?q=100%25&r=%zz%2"), "/a?q=100%25&r=%zz%2");
}

// A name that only ends in X-Plex-Token may be one after a separator a server knows and
// we do not: it is redacted too. Losing a parameter that is no token costs less.
TEST(RedactTarget, NameEndingInTheTokenNameCounts) {
  EXPECT_EQ(redact_target("/a?notX-Plex-Token=abc&b=1"), "/a?notX-Plex-Token=REDACTED&b=1");
  EXPECT_EQ(redact_target("/a/X-Plex-Token=abc"), "/a/X-Plex-Token=REDACTED");
}

TEST(RedactTarget, FullUrlInReferer) {
  EXPECT_EQ(redact_target("https://app.plex.tv/desktop/?X-Plex-Token=secret"),
            "https://app.plex.tv/desktop/?X-Plex-Token=REDACTED");
}

TEST(RedactTarget, HeaderValues) {
  EXPECT_EQ(redact_target("<https://h/a?X-Plex-Token=abc>; rel=\"next\""),
            "<https://h/a?X-Plex-Token=REDACTED>; rel=\"next\"");
  EXPECT_EQ(redact_target("0; url=/web/index.html?X-Plex-Token=abc"),
            "0; url=/web/index.html?X-Plex-Token=REDACTED");
}

TEST(RedactTarget, IsIdempotent) {
  for (std::string t :
       {"/a?X-Plex-Token=abc&b=1", "/a?X%252DPlex%252DToken=abc",
        "/p?url=%2Fa%3FX-Plex-Token%3Dabc%26w%3D1&w=2", "/a?b=1;x-plex-token=a;c"}) {
    auto once = redact_target(t);
    EXPECT_EQ(redact_target(once), once) << t;
  }
}

TEST(IsTokenName, AnySpellingTheServerCouldRead) {
  for (std::string_view name : {"X-Plex-Token", "x-plex-token", "X%2DPlex%2DToken",
                                "x%2dplex%2dtoken", "X%252DPlex%252DToken", "X-Plex-Token ",
                                " x-plex-token", "X-Plex-Token+", "%58-Plex-Token"})
    EXPECT_TRUE(is_token_name(name)) << name;
  for (std::string_view name :
       {"X-Plex-Tokenizer", "X-Plex-Client-Identifier", "token", "X-Plex", "", "X%2DPlex%2DTokens"})
    EXPECT_FALSE(is_token_name(name)) << name;
  std::string deep = encode_every_byte("X-Plex-Token");
  for (int i = 1; i < kMaxDecodeDepth + 2; ++i) deep = encode_component(deep);
  EXPECT_TRUE(is_token_name(deep)) << "still encoded past the bound";
}

// What /myplex/account, /api/v2/user, resources and /security/token answer.
TEST(RedactBody, TokenAttributesOfXml) {
  EXPECT_EQ(redact_body(R"(<MyPlex authToken="tok-1a2b" username="fake@example.com" )"
                        R"(mappingState="mapped" signInState="ok" />)"),
            R"(<MyPlex authToken="REDACTED" username="fake@example.com" )"
            R"(mappingState="mapped" signInState="ok" />)");
  EXPECT_EQ(redact_body(R"(<Device name="srv" accessToken='tok-3c4d' clientIdentifier="c">)"
                        R"(<Connection uri="https://10-0-0-2.x.plex.direct:32400" local="1"/>)"
                        R"(</Device>)"),
            R"(<Device name="srv" accessToken='REDACTED' clientIdentifier="c">)"
            R"(<Connection uri="https://10-0-0-2.x.plex.direct:32400" local="1"/>)"
            R"(</Device>)");
  EXPECT_EQ(redact_body(R"(<MediaContainer size="0" token="transient-5e6f"/>)"),
            R"(<MediaContainer size="0" token="REDACTED"/>)");
  EXPECT_EQ(redact_body(R"(<user authenticationToken = "tok-7a8b" id="1">)"
                        R"(<authentication-token>tok-7a8b</authentication-token><x/></user>)"),
            R"(<user authenticationToken = "REDACTED" id="1">)"
            R"(<authentication-token>REDACTED</authentication-token><x/></user>)");
}

TEST(RedactBody, TokenKeysOfJson) {
  EXPECT_EQ(redact_body(R"({"id":1,"uuid":"u1","authToken":"tok-1a2b","email":"e@example.com"})"),
            R"({"id":1,"uuid":"u1","authToken":"REDACTED","email":"e@example.com"})");
  EXPECT_EQ(redact_body("[{\"name\": \"srv\",\n \"accessToken\" : \"tok-3c4d\", \"connections\": "
                        "[{\"uri\": \"https://h:32400\"}]}]"),
            "[{\"name\": \"srv\",\n \"accessToken\" : \"REDACTED\", \"connections\": "
            "[{\"uri\": \"https://h:32400\"}]}]");
  EXPECT_EQ(redact_body(R"({"authenticationToken":"a\"b\\","x":1})"),
            R"({"authenticationToken":"REDACTED","x":1})");
  EXPECT_EQ(redact_body(R"({"MediaContainer":{"X-Plex-Token":"tok"}})"),
            R"({"MediaContainer":{"X-Plex-Token":"REDACTED"}})");
}

TEST(RedactBody, FormBodies) {
  EXPECT_EQ(redact_body("X-Plex-Token=tok-1a2b&name=x"), "X-Plex-Token=REDACTED&name=x");
  EXPECT_EQ(redact_body("name=x&X%2DPlex%2DToken=tok-1a2b"), "name=x&X%2DPlex%2DToken=REDACTED");
  EXPECT_EQ(redact_body("authToken=tok-1a2b;name=x"), "authToken=REDACTED;name=x");
  EXPECT_EQ(redact_body("a=1&url=%2Fp%3FX-Plex-Token%3Dtok%26b%3D2"),
            "a=1&url=%2Fp%3FX-Plex-Token%3DREDACTED%26b%3D2");
}

// A multipart form (a client uploading, or anything sending form-data) names its fields in
// the part headers; a part named like a token has its content replaced, to the boundary.
TEST(RedactBody, MultipartFormDataParts) {
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nMy list\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"X-Plex-Token\"\r\n"
      "Content-Type: text/plain\r\n\r\ntok-multi-9f\r\n"
      "--XyZ\r\ncontent-disposition: FORM-DATA; NAME=\"authToken\"\r\n\r\ntok-2\r\n--XyZ--\r\n";
  auto redacted = redact_body(body);
  ASSERT_TRUE(redacted);
  EXPECT_EQ(*redacted,
            "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nMy list\r\n"
            "--XyZ\r\nContent-Disposition: form-data; name=\"X-Plex-Token\"\r\n"
            "Content-Type: text/plain\r\n\r\nREDACTED\r\n"
            "--XyZ\r\ncontent-disposition: FORM-DATA; NAME=\"authToken\"\r\n\r\nREDACTED\r\n"
            "--XyZ--\r\n");
  // Cut by the end of a recording: redacted to the end; LF-only line ends too.
  EXPECT_EQ(redact_body("--b\nContent-Disposition: form-data; name=\"token\"\n\ntok-cut"),
            "--b\nContent-Disposition: form-data; name=\"token\"\n\nREDACTED");
  // Cut inside the part's headers: nothing of its content was kept, nothing to replace.
  EXPECT_FALSE(redact_body("--b\r\nContent-Disposition: form-data; name=\"token\"\r\nContent-Ty"));
}

TEST(RedactBody, UrlsInsideAnswers) {
  EXPECT_EQ(redact_body(R"(<Video thumb="/library/metadata/1/thumb?X-Plex-Token=tok&amp;w=1"/>)"),
            R"(<Video thumb="/library/metadata/1/thumb?X-Plex-Token=REDACTED&amp;w=1"/>)");
  EXPECT_EQ(redact_body("#EXTM3U\nsession/1/base/index.m3u8?X-Plex-Token=tok\n"),
            "#EXTM3U\nsession/1/base/index.m3u8?X-Plex-Token=REDACTED\n");
}

TEST(RedactBody, ValueCutByTheEndOfARecording) {
  EXPECT_EQ(redact_body(R"(<MyPlex authToken="tok-1a)"), R"(<MyPlex authToken="REDACTED)");
  EXPECT_EQ(redact_body(R"({"authToken":"tok-1a)"), R"({"authToken":"REDACTED)");
  EXPECT_EQ(redact_body("<authentication-token>tok-1a"), "<authentication-token>REDACTED");
}

TEST(RedactBody, NothingToRedact) {
  for (
      std::string_view body :
      {R"(<MediaContainer size="1"><Video ratingKey="1" title="Tokens of love"/></MediaContainer>)",
       R"({"token": null, "hasToken": true, "tokens": "x", "tokenizer": "y"})",
       R"(<A tokenizer="x" tokenType="jwt">the token</A>)",
       R"(<authentication-token></authentication-token>)", "X-Plex-Tokenizer=abc", ""})
    EXPECT_EQ(redact_body(body), std::nullopt) << body;
}

TEST(RedactBody, TextAfterAClosingTagStays) {
  EXPECT_EQ(redact_body("<authentication-token>t</authentication-token>after<b/>"),
            "<authentication-token>REDACTED</authentication-token>after<b/>");
}

TEST(SecretHeaders, Recognised) {
  EXPECT_TRUE(is_secret_header("X-Plex-Token"));
  EXPECT_TRUE(is_secret_header("x-plex-token"));
  EXPECT_TRUE(is_secret_header("X-Plex-Transient-Token"));
  EXPECT_TRUE(is_secret_header("authorization"));
  EXPECT_TRUE(is_secret_header("Proxy-Authorization"));
  EXPECT_TRUE(is_secret_header("Cookie"));
  EXPECT_TRUE(is_secret_header("Set-Cookie"));
  EXPECT_FALSE(is_secret_header("X-Plex-Client-Identifier"));
  EXPECT_FALSE(is_secret_header("X-Plex-Tokenizer"));
  EXPECT_FALSE(is_secret_header("Location"));
}

TEST(RedactBody, SettingsNamedLikeATokenLoseTheirValue) {
  // /:/prefs lists the server's own plex.tv token as a setting.
  auto xml = redact_body(
      R"(<MediaContainer><Setting id="FriendlyName" value="Home" /><Setting id="PlexOnlineToken" )"
      R"(label="" default="" value="secret-online" hidden="1" /></MediaContainer>)");
  ASSERT_TRUE(xml);
  EXPECT_EQ(xml->find("secret-online"), std::string::npos) << *xml;
  EXPECT_NE(xml->find(R"(value="Home")"), std::string::npos) << *xml;
  EXPECT_NE(xml->find(R"(id="PlexOnlineToken")"), std::string::npos) << *xml;
  auto json =
      redact_body(R"({"MediaContainer":{"Setting":[{"id":"FriendlyName","value":"Home"},)"
                  R"({"value": "secret-online", "id": "PlexOnlineToken", "default": ""}]}})");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->find("secret-online"), std::string::npos) << *json;
  EXPECT_NE(json->find(R"("value":"Home")"), std::string::npos) << *json;
}

TEST(SubstituteToken, PutsTheTokenWhereTheRedactedOneWas) {
  const std::optional<std::string> token{"t/k n"};
  EXPECT_EQ(substitute_token("/a?X-Plex-Token=REDACTED&b=1", token),
            "/a?X-Plex-Token=t%2Fk%20n&b=1");
  EXPECT_EQ(substitute_token("/a?b=1&x-plex-token=REDACTED", token),
            "/a?b=1&x-plex-token=t%2Fk%20n");
  // Inside another parameter, encoded once more.
  EXPECT_EQ(substitute_token("/photo/:/transcode?url=%2Fp%3FX-Plex-Token%3DREDACTED&w=1", token),
            "/photo/:/transcode?url=%2Fp%3FX-Plex-Token%3Dt%252Fk%2520n&w=1");
  EXPECT_EQ(substitute_token("/a?b=1", token), "/a?b=1");
  // A token that is not the redacted placeholder stays as it is.
  EXPECT_EQ(substitute_token("/a?X-Plex-Token=abc", token), "/a?X-Plex-Token=abc");
}

TEST(SubstituteToken, WithoutATokenTheParameterGoes) {
  EXPECT_EQ(substitute_token("/a?X-Plex-Token=REDACTED&b=1", std::nullopt), "/a?b=1");
  EXPECT_EQ(substitute_token("/a?b=1&X-Plex-Token=REDACTED", std::nullopt), "/a?b=1");
  EXPECT_EQ(substitute_token("/a?b=1&X-Plex-Token=REDACTED&c=2", std::nullopt), "/a?b=1&c=2");
  EXPECT_EQ(substitute_token("/a?X-Plex-Token=REDACTED", std::nullopt), "/a");
}

}  // namespace
}  // namespace plextap::capture
