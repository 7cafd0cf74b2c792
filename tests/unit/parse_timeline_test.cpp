// Parsers of the kinds read mostly from the request: timeline, scrobble, unscrobble, rate,
// transcode.
#include "parse_test_support.hpp"

namespace plextap::capture {
namespace {

using testing::fixture;
using testing::parse_call;

constexpr std::string_view kWebTimeline =
    "/:/timeline?ratingKey=65547&key=%2Flibrary%2Fmetadata%2F65547&playbackTime=1000"
    "&playQueueItemID=2211762&state=playing&hasMDE=1&context=source%3Ahub.movie.recentlyadded"
    "&row=0&col=0&time=1000&duration=5423794&X-Plex-Product=Plex%20Web"
    "&X-Plex-Client-Identifier=fakeclientid0webchrome01&X-Plex-Token=FAKE-PLEX-TOKEN-0001";

TEST(ParseTimeline, PlexWebPlaying) {
  auto f = parse_call("GET", kWebTimeline, 200, "application/json", fixture("timeline.json"));
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.rating_key(), "65547");
  EXPECT_EQ(f.str("/state"), "playing");
  EXPECT_EQ(f.integer("/time_ms"), 1000);
  EXPECT_EQ(f.integer("/duration_ms"), 5423794);
  EXPECT_EQ(f.integer("/play_queue_item_id"), 2211762);
  EXPECT_EQ(f.str("/key"), "/library/metadata/65547");
  EXPECT_TRUE(f.is_null("/termination_code"));
  EXPECT_TRUE(f.is_null("/termination_text"));
}

TEST(ParseTimeline, TerminatedBySeverInBothFormats) {
  for (auto [file, type] : {std::pair{"timeline-terminated.json", "application/json"},
                            std::pair{"timeline-terminated.xml", "text/xml;charset=utf-8"}}) {
    auto f = parse_call("POST", kWebTimeline, 200, type, fixture(file));
    EXPECT_EQ(f.parse_error(), "") << file;
    EXPECT_EQ(f.integer("/termination_code"), 2006) << file;
    EXPECT_EQ(f.str("/termination_text"), "Admin terminated playback with reason: Go Away");
    EXPECT_EQ(f.str("/state"), "playing");
  }
}

TEST(ParseTimeline, XmlAndJsonGiveTheSameFields) {
  for (auto name : {"timeline", "timeline-terminated"}) {
    std::string base(name);
    auto x = parse_call("GET", kWebTimeline, 200, "application/xml", fixture(base + ".xml"));
    auto j = parse_call("GET", kWebTimeline, 200, "application/json", fixture(base + ".json"));
    EXPECT_EQ(x.json(), j.json());
    EXPECT_EQ(x.rating_key(), j.rating_key());
  }
}

TEST(ParseTimeline, EmptyAnswerIsNotAnError) {
  for (auto body : {"", "  \r\n"}) {
    auto f = parse_call("PUT", kWebTimeline, 200, "", body);
    EXPECT_EQ(f.parse_error(), "");
    EXPECT_TRUE(f.is_null("/termination_code"));
    EXPECT_EQ(f.str("/state"), "playing");
  }
}

TEST(ParseTimeline, UnreadableAnswerKeepsRequestFields) {
  auto html = parse_call("GET", kWebTimeline, 401, "text/html", fixture("unauthorized.html"));
  EXPECT_NE(html.parse_error(), "");
  EXPECT_NE(html.parse_error().find("401"), std::string::npos) << html.parse_error();
  EXPECT_EQ(html.integer("/time_ms"), 1000);
  EXPECT_EQ(html.rating_key(), "65547");
  EXPECT_TRUE(html.is_null("/termination_code"));

  auto cut = fixture("timeline-terminated.json").substr(0, 40);
  auto truncated = parse_call("GET", kWebTimeline, 200, "application/json", cut);
  EXPECT_NE(truncated.parse_error(), "");
  EXPECT_EQ(truncated.str("/state"), "playing");

  auto sniffed = parse_call("GET", kWebTimeline, 200, "", "<MediaContainer size=\"0\"");
  EXPECT_NE(sniffed.parse_error(), "");
}

TEST(ParseTimeline, ContentTypeMissingSniffsTheFormat) {
  auto f = parse_call("GET", kWebTimeline, 200, "", fixture("timeline-terminated.json"));
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.integer("/termination_code"), 2006);
  auto x = parse_call("GET", kWebTimeline, 200, "", fixture("timeline-terminated.xml"));
  EXPECT_EQ(x.integer("/termination_code"), 2006);
}

TEST(ParseTimeline, EveryFieldPresentEvenWhenAbsent) {
  auto f = parse_call("GET", "/:/timeline", 200, "", "");
  for (auto key : {"/state", "/time_ms", "/duration_ms", "/play_queue_item_id", "/key",
                   "/termination_code", "/termination_text"})
    EXPECT_TRUE(f.is_null(key)) << key;
  EXPECT_EQ(f.rating_key(), "");
}

TEST(ParseTimeline, KeyWithoutRatingKey) {
  // python-plexapi leaves the key unencoded.
  auto f =
      parse_call("GET",
                 "/:/timeline?key=/library/metadata/65547&identifier=com.plexapp.plugins.library"
                 "&time=120000&state=stopped&duration=5423794",
                 200, "", "");
  EXPECT_EQ(f.rating_key(), "65547");
  EXPECT_EQ(f.str("/key"), "/library/metadata/65547");
  EXPECT_EQ(f.str("/state"), "stopped");
  EXPECT_TRUE(f.is_null("/play_queue_item_id"));
}

TEST(ParseTimeline, ProgressKeyIsABareRatingKey) {
  auto f = parse_call(
      "GET",
      "/:/progress?key=65547&identifier=com.plexapp.plugins.library&time=120000&state=stopped", 200,
      "", "");
  EXPECT_EQ(f.rating_key(), "65547");
  EXPECT_EQ(f.str("/key"), "65547");
  EXPECT_EQ(f.integer("/time_ms"), 120000);
  EXPECT_EQ(f.str("/state"), "stopped");
}

TEST(ParseTimeline, NonNumericTimeIsNull) {
  auto f = parse_call("GET", "/:/timeline?time=abc&duration=12.5", 200, "", "");
  EXPECT_TRUE(f.is_null("/time_ms"));
  EXPECT_DOUBLE_EQ(f.number("/duration_ms"), 12.5);
}

TEST(RatingKeyFrom, KeysAndUris) {
  EXPECT_EQ(rating_key_from("/library/metadata/65547"), "65547");
  EXPECT_EQ(rating_key_from("/library/metadata/284997/children"), "284997");
  EXPECT_EQ(rating_key_from("65547"), "65547");
  EXPECT_EQ(rating_key_from("server://96f2/com.plexapp.plugins.library/library/metadata/65547"),
            "65547");
  EXPECT_EQ(rating_key_from("library://3bbb/item/%2Flibrary%2Fmetadata%2F284997"), "284997");
  EXPECT_EQ(rating_key_from("library://3bbb/item/%252Flibrary%252Fmetadata%252F7"), "7");
  EXPECT_EQ(rating_key_from("library:///directory/%2Flibrary%2Fmetadata%2F1%2C2%2C3"), "1");
  EXPECT_EQ(rating_key_from("/library/sections/1/all"), "");
  EXPECT_EQ(rating_key_from("plex://movie/5d776827eb5d26001f1ddab7"), "");
  EXPECT_EQ(rating_key_from(""), "");
}

TEST(ParseScrobble, KeyAndIdentifier) {
  for (auto method : {"GET", "PUT"}) {
    auto f = parse_call(method, "/:/scrobble?identifier=com.plexapp.plugins.library&key=65547", 200,
                        "text/html", "<html>ok</html>");
    EXPECT_EQ(f.parse_error(), "");  // the answer carries no fields: never read
    EXPECT_EQ(f.rating_key(), "65547");
    EXPECT_EQ(f.str("/identifier"), "com.plexapp.plugins.library");
  }
}

TEST(ParseScrobble, UnscrobbleByUri) {
  auto f = parse_call("GET",
                      "/:/unscrobble?identifier=com.plexapp.plugins.library&uri=server%3A%2F%2Fabc"
                      "%2Fcom.plexapp.plugins.library%2Flibrary%2Fmetadata%2F284997",
                      200, "", "");
  EXPECT_EQ(f.rating_key(), "284997");
  EXPECT_EQ(f.str("/identifier"), "com.plexapp.plugins.library");
}

TEST(ParseRate, RatingIsANumber) {
  auto eight = parse_call(
      "PUT", "/:/rate?key=65547&identifier=com.plexapp.plugins.library&rating=8.0", 200, "", "");
  EXPECT_EQ(eight.integer("/rating"), 8);
  EXPECT_EQ(eight.rating_key(), "65547");
  auto cleared = parse_call("PUT", "/:/rate?key=65547&rating=-1", 200, "", "");
  EXPECT_EQ(cleared.integer("/rating"), -1);
  auto half = parse_call("GET", "/:/rate?key=65547&rating=7.5", 200, "", "");
  EXPECT_DOUBLE_EQ(half.number("/rating"), 7.5);
  auto none = parse_call("GET", "/:/rate?key=65547", 200, "", "");
  EXPECT_TRUE(none.is_null("/rating"));
}

TEST(ParseTranscode, StartCarriesThePlaybackRequest) {
  auto f = parse_call(
      "GET",
      "/video/:/transcode/universal/start.m3u8?path=%2Flibrary%2Fmetadata%2F65547"
      "&session=fakempvshimsession000001&protocol=hls&directPlay=0&directStream=1&fastSeek=1"
      "&mediaIndex=0&partIndex=0&location=lan&offset=0&X-Plex-Token=FAKE-PLEX-TOKEN-0005",
      200, "application/vnd.apple.mpegurl",
      "#EXTM3U\n#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=2498000,RESOLUTION=960x720\n"
      "session/fakempvshimsession000001/base/index.m3u8\n");
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.rating_key(), "65547");
  EXPECT_EQ(f.str("/session"), "fakempvshimsession000001");
  EXPECT_EQ(f.str("/protocol"), "hls");
  EXPECT_FALSE(f.flag("/direct_play"));
  EXPECT_TRUE(f.flag("/direct_stream"));
  EXPECT_EQ(f.integer("/media_index"), 0);
  EXPECT_EQ(f.str("/location"), "lan");
  EXPECT_TRUE(f.is_null("/max_video_bitrate"));
}

TEST(ParseTranscode, PingAndStopNameTheSession) {
  for (auto op : {"ping", "stop"}) {
    auto f = parse_call(
        "GET",
        std::string("/video/:/transcode/universal/") + op + "?session=fakempvshimsession000001",
        200, "", "");
    EXPECT_EQ(f.str("/session"), "fakempvshimsession000001") << op;
    EXPECT_TRUE(f.is_null("/protocol"));
    EXPECT_EQ(f.rating_key(), "");
  }
}

TEST(ParseTranscode, SessionFallsBackToThePlaybackSession) {
  auto f = parse_call("GET", "/video/:/transcode/universal/start.mpd?protocol=dash", 200, "", "",
                      "fakeplaybacksession00001");
  EXPECT_EQ(f.str("/session"), "fakeplaybacksession00001");
  auto spec = parse_call("GET", "/video/:/transcode/universal/ping?transcodeSessionId=t1", 200, "",
                         "", "fakeplaybacksession00001");
  EXPECT_EQ(spec.str("/session"), "t1");
}

}  // namespace
}  // namespace plextap::capture
