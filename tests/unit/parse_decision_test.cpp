#include "parse_test_support.hpp"

namespace plextap::capture {
namespace {

using testing::fixture;
using testing::parse_call;

// Plex Web 4.116.1 (DASH, direct play disabled by the browser profile).
constexpr std::string_view kWebDecision =
    "/video/:/transcode/universal/decision?hasMDE=1&path=%2Flibrary%2Fmetadata%2F65547"
    "&mediaIndex=0&partIndex=0&protocol=dash&fastSeek=1&directPlay=0&directStream=1"
    "&subtitleSize=100&audioBoost=100&location=lan&session=faketranscodesession0001"
    "&subtitles=burn&X-Plex-Session-Identifier=fakeplaybacksession00001"
    "&X-Plex-Client-Identifier=fakeclientid0webchrome01&X-Plex-Token=FAKE-PLEX-TOKEN-0001";

TEST(ParseDecision, TranscodeOverXml) {
  auto f = parse_call("GET", kWebDecision, 200, "text/xml", fixture("decision.xml"));
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.rating_key(), "65547");
  EXPECT_EQ(f.str("/protocol"), "dash");
  EXPECT_FALSE(f.flag("/direct_play"));
  EXPECT_TRUE(f.flag("/direct_stream"));
  EXPECT_EQ(f.integer("/media_index"), 0);
  EXPECT_EQ(f.integer("/part_index"), 0);
  EXPECT_TRUE(f.is_null("/max_video_bitrate"));
  EXPECT_TRUE(f.is_null("/video_resolution"));
  EXPECT_EQ(f.str("/session"), "faketranscodesession0001");
  EXPECT_EQ(f.str("/location"), "lan");

  EXPECT_EQ(f.integer("/general_decision/code"), 1001);
  EXPECT_EQ(f.str("/general_decision/text"), "Direct play not available; Conversion OK.");
  EXPECT_EQ(f.integer("/direct_play_decision/code"), 3000);
  EXPECT_EQ(f.str("/direct_play_decision/text"),
            "App cannot direct play this item. Direct play is disabled.");
  EXPECT_EQ(f.integer("/transcode_decision/code"), 1001);
  EXPECT_TRUE(f.is_null("/mde_decision/code"));
  EXPECT_TRUE(f.is_null("/mde_decision/text"));

  EXPECT_EQ(f.str("/video/decision"), "transcode");
  EXPECT_EQ(f.str("/video/codec"), "h264");
  EXPECT_EQ(f.str("/video/location"), "segments-av");
  EXPECT_EQ(f.integer("/video/bitrate"), 3419);
  EXPECT_EQ(f.integer("/video/width"), 1280);
  EXPECT_EQ(f.integer("/video/height"), 720);
  EXPECT_EQ(f.str("/audio/decision"), "transcode");
  EXPECT_EQ(f.str("/audio/codec"), "opus");
  EXPECT_EQ(f.integer("/audio/channels"), 2);
  EXPECT_EQ(f.integer("/audio/bitrate"), 119);
  EXPECT_TRUE(f.is_null("/subtitle"));  // the answer has no subtitle stream
  EXPECT_EQ(f.str("/part_decision"), "transcode");
  EXPECT_EQ(f.integer("/chosen_media_id"), 221632);
}

TEST(ParseDecision, XmlAndJsonGiveTheSameFields) {
  for (auto name : {"decision", "decision-directplay"}) {
    std::string base(name);
    auto x = parse_call("GET", kWebDecision, 200, "text/xml", fixture(base + ".xml"));
    auto j = parse_call("GET", kWebDecision, 200, "application/json", fixture(base + ".json"));
    EXPECT_EQ(x.parse_error(), "");
    EXPECT_EQ(j.parse_error(), "");
    EXPECT_EQ(x.json(), j.json()) << name;
  }
}

// A stream the answer does not have is null, never an object of nulls, in either format;
// one it has is an object.
TEST(ParseDecision, AnAbsentStreamIsNullInXmlAndJson) {
  for (auto name : {"decision", "decision-directplay"}) {
    std::string base(name);
    for (auto [type, ext] : {std::pair{"text/xml", ".xml"}, {"application/json", ".json"}}) {
      auto f = parse_call("GET", kWebDecision, 200, type, fixture(base + ext));
      EXPECT_TRUE(f.is_null("/subtitle")) << name << ext << ": " << f.json();
      EXPECT_TRUE(f.root()["video"].is_object()) << name << ext;
      EXPECT_TRUE(f.root()["audio"].is_object()) << name << ext;
    }
  }
  // An answer without any Media: every stream null, the same in both formats.
  auto x = parse_call("GET", kWebDecision, 200, "text/xml",
                      R"(<MediaContainer size="0" generalDecisionCode="2000"/>)");
  auto j = parse_call("GET", kWebDecision, 200, "application/json",
                      R"({"MediaContainer":{"size":0,"generalDecisionCode":2000}})");
  for (const auto* f : {&x, &j})
    for (auto stream : {"/video", "/audio", "/subtitle"})
      EXPECT_TRUE(f->is_null(stream)) << stream << " in " << f->json();
  EXPECT_EQ(x.json(), j.json());
}

TEST(ParseDecision, DirectPlayWithMde) {
  auto f = parse_call("GET",
                      "/video/:/transcode/universal/decision?hasMDE=1&path=%2Flibrary%2Fmetadata"
                      "%2F65547&session=fakempvshimsession000001&protocol=hls&directPlay=1"
                      "&directStream=1&mediaIndex=0&partIndex=0&location=lan",
                      200, "application/json", fixture("decision-directplay.json"));
  EXPECT_EQ(f.integer("/general_decision/code"), 1000);
  EXPECT_EQ(f.integer("/mde_decision/code"), 1000);
  EXPECT_EQ(f.str("/mde_decision/text"), "Direct play OK.");
  EXPECT_TRUE(f.is_null("/transcode_decision/code"));
  EXPECT_TRUE(f.flag("/direct_play"));
  EXPECT_TRUE(f.is_null("/video/decision"));  // direct play: streams carry no decision
  EXPECT_EQ(f.str("/video/location"), "direct");
  EXPECT_EQ(f.str("/audio/codec"), "aac");
  EXPECT_EQ(f.str("/audio/language_code"), "eng");
  EXPECT_EQ(f.str("/part_decision"), "directplay");
  EXPECT_EQ(f.integer("/chosen_media_id"), 73681);
}

TEST(ParseDecision, AndroidBitrateAndResolution) {
  auto f = parse_call("GET",
                      "/video/:/transcode/universal/decision?directPlay=0&directStream=0"
                      "&location=lan&maxVideoBitrate=320&mediaIndex=0&partIndex=0"
                      "&path=%2Flibrary%2Fmetadata%2F1&protocol=*&session=fakeandroidsession"
                      "&videoBitrate=999&videoResolution=3840x2160",
                      200, "application/xml", "");
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.integer("/max_video_bitrate"), 320);
  EXPECT_EQ(f.str("/video_resolution"), "3840x2160");
  EXPECT_EQ(f.str("/protocol"), "*");
  EXPECT_EQ(f.rating_key(), "1");
  EXPECT_TRUE(f.is_null("/general_decision/code"));
  EXPECT_TRUE(f.is_null("/chosen_media_id"));

  auto spec =
      parse_call("GET", "/video/:/transcode/universal/decision?videoBitrate=4000", 200, "", "");
  EXPECT_EQ(spec.integer("/max_video_bitrate"), 4000);
}

TEST(ParseDecision, SessionFallbacks) {
  auto spec = parse_call("GET", "/video/:/transcode/universal/decision?transcodeSessionId=t1", 200,
                         "", "", "playback1");
  EXPECT_EQ(spec.str("/session"), "t1");
  auto header = parse_call("GET", "/music/:/transcode/universal/decision?protocol=http", 200, "",
                           "", "playback1");
  EXPECT_EQ(header.str("/session"), "playback1");
  auto none = parse_call("GET", "/music/:/transcode/universal/decision", 200, "", "");
  EXPECT_TRUE(none.is_null("/session"));
}

TEST(ParseDecision, SelectedSubtitleAndMediaVersion) {
  const std::string body = R"(<MediaContainer generalDecisionCode="1001">
<Video ratingKey="42">
<Media id="1" videoCodec="hevc"><Part id="11"><Stream streamType="1" codec="hevc"/></Part></Media>
<Media id="2" selected="1"><Part id="21" decision="transcode">
<Stream streamType="1" codec="h264" decision="copy" location="segments-video"/>
<Stream streamType="2" codec="ac3" channels="6" languageCode="eng"/>
<Stream streamType="2" codec="aac" channels="2" languageCode="fra" selected="1" decision="transcode"/>
<Stream streamType="3" codec="srt" languageCode="eng"/>
<Stream streamType="3" codec="ass" languageCode="fra" selected="1" decision="burn" location="segments-video"/>
</Part></Media>
</Video></MediaContainer>)";
  auto f = parse_call("GET", "/video/:/transcode/universal/decision", 200, "", body);
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.rating_key(), "42");  // no path parameter: the answer's item
  EXPECT_EQ(f.integer("/chosen_media_id"), 2);
  EXPECT_EQ(f.str("/video/decision"), "copy");
  EXPECT_EQ(f.str("/audio/codec"), "aac");
  EXPECT_EQ(f.str("/audio/language_code"), "fra");
  EXPECT_EQ(f.str("/subtitle/decision"), "burn");
  EXPECT_EQ(f.str("/subtitle/codec"), "ass");
  EXPECT_EQ(f.str("/subtitle/location"), "segments-video");
}

TEST(ParseDecision, UnauthorizedPage) {
  auto f = parse_call("GET", kWebDecision, 401, "text/html", fixture("unauthorized.html"));
  EXPECT_NE(f.parse_error().find("HTTP 401"), std::string::npos) << f.parse_error();
  EXPECT_EQ(f.str("/protocol"), "dash");
  EXPECT_TRUE(f.is_null("/general_decision/code"));
  EXPECT_TRUE(f.is_null("/video"));  // no answer, so no stream
  EXPECT_EQ(f.rating_key(), "65547");
}

}  // namespace
}  // namespace plextap::capture
