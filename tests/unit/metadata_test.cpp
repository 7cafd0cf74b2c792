// parse_metadata: the enrichment answer of /library/metadata/{key} into the `media` object
// (DESIGN.md section 6). Every test reads the produced JSON back with simdjson.
// Long on purpose: one test per shape of the server's answer.
#include "enrich/metadata.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "parse_test_support.hpp"

namespace plextap::enrich {
namespace {

using capture::testing::fixture;

// media_json of a successful parse, read back by JSON pointer.
class Media : public capture::testing::JsonDoc {
 public:
  explicit Media(const MediaParse& p) : JsonDoc(p.media_json) { EXPECT_EQ(p.error, ""); }
};

// A JSON answer holding one item with the given members (without the outer braces).
std::string item_json(std::string_view members) {
  return R"({"MediaContainer":{"size":1,"Metadata":[{)" + std::string(members) + "}]}}";
}

// A movie with one version whose only video stream has the given members.
std::string one_video_stream(std::string_view stream_members) {
  return item_json(R"("type":"movie","Media":[{"id":1,"videoCodec":"hevc","Part":[{"id":2,)"
                   R"("Stream":[{"streamType":1,)" +
                   std::string(stream_members) + "}]}]}]");
}

TEST(Metadata, MovieWithTwoVersions) {
  auto p = parse_metadata(fixture("metadata-movie-two-versions.json"));
  Media m(p);
  EXPECT_EQ(p.type, "movie");
  EXPECT_EQ(p.duration_ms, 5423794);

  EXPECT_EQ(m.str("/type"), "movie");
  EXPECT_EQ(m.str("/title"), "Aladdin");
  EXPECT_EQ(m.integer("/year"), 1992);
  EXPECT_TRUE(m.is_null("/grandparent_title"));
  EXPECT_TRUE(m.is_null("/parent_title"));
  EXPECT_TRUE(m.is_null("/parent_index"));
  EXPECT_TRUE(m.is_null("/index"));
  EXPECT_EQ(m.integer("/duration_ms"), 5423794);
  EXPECT_EQ(m.integer("/library_section_id"), 2);
  EXPECT_EQ(m.str("/library_section_title"), "Movies");
  EXPECT_EQ(m.str("/content_rating"), "G");
  EXPECT_EQ(m.str("/studio"), "Walt Disney Pictures");
  EXPECT_EQ(m.integer("/view_count"), 2);
  EXPECT_EQ(m.integer("/skip_count"), 1);
  EXPECT_EQ(m.str("/last_viewed_at"), "2024-03-03T12:46:52.000Z");

  ASSERT_EQ(m.size("/genres"), 4u);
  EXPECT_EQ(m.str("/genres/0"), "Animation");
  EXPECT_EQ(m.str("/genres/3"), "Adventure");
  ASSERT_EQ(m.size("/directors"), 2u);
  EXPECT_EQ(m.integer("/directors/0/id"), 63813);
  EXPECT_EQ(m.str("/directors/0/tag"), "Ron Clements");
  EXPECT_EQ(m.str("/directors/1/tag"), "John Musker");
  ASSERT_EQ(m.size("/writers"), 2u);
  EXPECT_EQ(m.integer("/writers/1/id"), 63816);
  EXPECT_EQ(m.str("/writers/1/tag"), "Terry Rossio");

  ASSERT_EQ(m.size("/versions"), 2u);
  // The original 480p SDR file.
  EXPECT_EQ(m.integer("/versions/0/id"), 73681);
  EXPECT_EQ(m.str("/versions/0/video_resolution"), "480");
  EXPECT_EQ(m.str("/versions/0/video_codec"), "h264");
  EXPECT_EQ(m.integer("/versions/0/bitrate"), 2418);
  EXPECT_EQ(m.str("/versions/0/container"), "mkv");
  EXPECT_TRUE(m.is_null("/versions/0/hdr"));
  EXPECT_TRUE(m.is_null("/versions/0/dovi_profile"));
  EXPECT_EQ(m.str("/versions/0/audio_codec"), "ac3");
  EXPECT_EQ(m.integer("/versions/0/audio_channels"), 6);
  EXPECT_EQ(m.integer("/versions/0/size"), 1639520577);
  // The 4K remux: Dolby Vision profile 8 over an HDR10 base layer counts as Dolby Vision.
  EXPECT_EQ(m.integer("/versions/1/id"), 412233);
  EXPECT_EQ(m.str("/versions/1/video_resolution"), "4k");
  EXPECT_EQ(m.str("/versions/1/video_codec"), "hevc");
  EXPECT_EQ(m.integer("/versions/1/bitrate"), 58211);
  EXPECT_EQ(m.str("/versions/1/hdr"), "dolby_vision");
  EXPECT_EQ(m.integer("/versions/1/dovi_profile"), 8);
  EXPECT_EQ(m.str("/versions/1/audio_codec"), "truehd");
  EXPECT_EQ(m.integer("/versions/1/audio_channels"), 8);
  EXPECT_EQ(m.integer("/versions/1/size"), 39466129024);

  ASSERT_EQ(m.size("/markers"), 1u);
  EXPECT_EQ(m.str("/markers/0/type"), "credits");
  EXPECT_EQ(m.integer("/markers/0/start_ms"), 4991210);
  EXPECT_EQ(m.integer("/markers/0/end_ms"), 5423794);
  EXPECT_EQ(p.markers, (std::vector<Marker>{{"credits", 4991210, 5423794}}));
}

TEST(Metadata, EveryKeyPresentInOrderEvenWhenTheAnswerIsSparse) {
  auto p = parse_metadata(item_json(R"("ratingKey":"1")"));
  Media m(p);
  EXPECT_EQ(m.keys(""), (std::vector<std::string>{"type",
                                                  "title",
                                                  "year",
                                                  "grandparent_title",
                                                  "parent_title",
                                                  "parent_index",
                                                  "index",
                                                  "parent_rating_key",
                                                  "grandparent_rating_key",
                                                  "duration_ms",
                                                  "library_section_id",
                                                  "library_section_title",
                                                  "guids",
                                                  "genres",
                                                  "directors",
                                                  "writers",
                                                  "roles",
                                                  "ratings",
                                                  "content_rating",
                                                  "studio",
                                                  "view_count",
                                                  "skip_count",
                                                  "last_viewed_at",
                                                  "versions",
                                                  "markers",
                                                  "chapters"}));
  EXPECT_EQ(m.keys("/guids"), (std::vector<std::string>{"imdb", "tmdb", "tvdb", "plex"}));
  for (auto key : {"/type", "/title", "/year", "/duration_ms", "/library_section_id", "/guids/imdb",
                   "/guids/tmdb", "/guids/tvdb", "/guids/plex", "/content_rating", "/studio",
                   "/last_viewed_at"})
    EXPECT_TRUE(m.is_null(key)) << key;
  for (auto key : {"/genres", "/directors", "/writers", "/roles", "/ratings", "/versions",
                   "/markers", "/chapters"})
    EXPECT_EQ(m.size(key), 0u) << key;
  // The server leaves the counts out while they are zero.
  EXPECT_EQ(m.integer("/view_count"), 0);
  EXPECT_EQ(m.integer("/skip_count"), 0);
  EXPECT_EQ(p.type, "");
  EXPECT_FALSE(p.duration_ms.has_value());
  EXPECT_TRUE(p.markers.empty());
}

TEST(Metadata, EpisodeMarkersAreSortedByStart) {
  // The fixture lists final credits, then the intro, then an earlier credits block.
  auto p = parse_metadata(fixture("metadata-episode-markers.json"));
  Media m(p);
  ASSERT_EQ(m.size("/markers"), 3u);
  EXPECT_EQ(m.str("/markers/0/type"), "intro");
  EXPECT_EQ(m.integer("/markers/0/start_ms"), 990);
  EXPECT_EQ(m.integer("/markers/0/end_ms"), 61061);
  EXPECT_EQ(m.str("/markers/1/type"), "credits");
  EXPECT_EQ(m.integer("/markers/1/start_ms"), 1402000);
  EXPECT_EQ(m.integer("/markers/1/end_ms"), 1431500);
  EXPECT_EQ(m.str("/markers/2/type"), "credits");
  EXPECT_EQ(m.integer("/markers/2/start_ms"), 1688500);
  EXPECT_EQ(m.integer("/markers/2/end_ms"), 1745792);
  EXPECT_EQ(p.markers, (std::vector<Marker>{{"intro", 990, 61061},
                                            {"credits", 1402000, 1431500},
                                            {"credits", 1688500, 1745792}}));
}

TEST(Metadata, EpisodeFields) {
  auto p = parse_metadata(fixture("metadata-episode-markers.json"));
  Media m(p);
  EXPECT_EQ(p.type, "episode");
  EXPECT_EQ(p.duration_ms, 1745792);
  EXPECT_EQ(m.str("/title"), "Food and Drink");
  EXPECT_EQ(m.str("/grandparent_title"), "Men in Kilts: A Roadtrip with Sam and Graham");
  EXPECT_EQ(m.str("/parent_title"), "Season 1");
  EXPECT_EQ(m.integer("/parent_index"), 1);
  EXPECT_EQ(m.integer("/index"), 1);
  EXPECT_EQ(m.str("/parent_rating_key"), "284996");  // the season and the show: runs and
  EXPECT_EQ(m.str("/grandparent_rating_key"), "284995");  // search matches join on them
  EXPECT_TRUE(m.is_null("/year"));
  EXPECT_EQ(m.integer("/library_section_id"), 4);
  EXPECT_EQ(m.str("/library_section_title"), "TV Shows");
  EXPECT_EQ(m.str("/content_rating"), "TV-PG");
  EXPECT_EQ(m.integer("/view_count"), 1);
  EXPECT_EQ(m.integer("/skip_count"), 0);
  EXPECT_EQ(m.str("/last_viewed_at"), "2022-08-17T02:01:15.000Z");
  EXPECT_EQ(m.size("/genres"), 0u);
  ASSERT_EQ(m.size("/versions"), 2u);
  EXPECT_EQ(m.str("/versions/0/video_resolution"), "1080");
  EXPECT_TRUE(m.is_null("/versions/0/hdr"));
  EXPECT_EQ(m.str("/versions/0/audio_codec"), "eac3");
  EXPECT_EQ(m.integer("/versions/0/size"), 2149536961);
  // The optimized copy: mp4, stereo AAC, and no colour information at all.
  EXPECT_EQ(m.integer("/versions/1/id"), 347611);
  EXPECT_EQ(m.str("/versions/1/container"), "mp4");
  EXPECT_EQ(m.integer("/versions/1/audio_channels"), 2);
  EXPECT_TRUE(m.is_null("/versions/1/hdr"));
  EXPECT_TRUE(m.is_null("/versions/1/dovi_profile"));
}

TEST(Metadata, Guids) {
  Media movie(parse_metadata(fixture("metadata-movie-two-versions.json")));
  EXPECT_EQ(movie.str("/guids/imdb"), "tt0103639");
  EXPECT_EQ(movie.str("/guids/tmdb"), "812");
  EXPECT_EQ(movie.str("/guids/tvdb"), "285");
  EXPECT_EQ(movie.str("/guids/plex"), "plex://movie/5d776827eb5d26001f1ddab7");

  Media episode(parse_metadata(fixture("metadata-episode-markers.json")));
  EXPECT_EQ(episode.str("/guids/imdb"), "tt00000001");
  EXPECT_EQ(episode.str("/guids/tmdb"), "0000001");  // ids stay strings: no digits lost
  EXPECT_EQ(episode.str("/guids/tvdb"), "0000001");
  EXPECT_EQ(episode.str("/guids/plex"), "plex://episode/5ee7425070a20200424dcd66");
}

TEST(Metadata, LegacyAgentGuidFillsOnlyItsProvider) {
  Media movie(parse_metadata(item_json(R"("guid":"com.plexapp.agents.imdb://tt0103639?lang=en")")));
  EXPECT_EQ(movie.str("/guids/imdb"), "tt0103639");
  EXPECT_TRUE(movie.is_null("/guids/plex"));
  EXPECT_TRUE(movie.is_null("/guids/tmdb"));

  // A legacy episode guid names show/season/episode: not the episode's own tvdb id.
  Media episode(parse_metadata(item_json(
      R"("guid":"com.plexapp.agents.thetvdb://285/1/3?lang=en","Guid":[{"id":"tmdb://77"}])")));
  EXPECT_TRUE(episode.is_null("/guids/tvdb"));
  EXPECT_EQ(episode.str("/guids/tmdb"), "77");

  // A Guid child wins over the legacy guid of the same provider.
  Media both(parse_metadata(item_json(
      R"("guid":"com.plexapp.agents.themoviedb://1?lang=en","Guid":[{"id":"tmdb://812"}])")));
  EXPECT_EQ(both.str("/guids/tmdb"), "812");
}

TEST(Metadata, RolesKeepCharacterNames) {
  Media m(parse_metadata(fixture("metadata-movie-two-versions.json")));
  ASSERT_EQ(m.size("/roles"), 3u);
  EXPECT_EQ(m.integer("/roles/0/id"), 63820);
  EXPECT_EQ(m.str("/roles/0/tag"), "Scott Weinger");
  EXPECT_EQ(m.str("/roles/0/role"), "Aladdin (voice)");
  EXPECT_EQ(m.str("/roles/1/tag"), "Robin Williams");
  EXPECT_EQ(m.str("/roles/1/role"), "Genie / Peddler (voice)");
  EXPECT_EQ(m.str("/roles/2/role"), "Jasmine (voice)");

  Media no_role(parse_metadata(item_json(R"("Role":[{"id":5,"tag":"Someone"},{"id":6}])")));
  ASSERT_EQ(no_role.size("/roles"), 1u);  // a role without a name says nothing
  EXPECT_EQ(no_role.str("/roles/0/tag"), "Someone");
  EXPECT_TRUE(no_role.is_null("/roles/0/role"));
}

TEST(Metadata, Ratings) {
  Media m(parse_metadata(fixture("metadata-movie-two-versions.json")));
  ASSERT_EQ(m.size("/ratings"), 4u);
  EXPECT_EQ(m.str("/ratings/0/type"), "audience");
  EXPECT_DOUBLE_EQ(m.number("/ratings/0/value"), 8.0);
  EXPECT_EQ(m.str("/ratings/0/image"), "imdb://image.rating");
  EXPECT_EQ(m.str("/ratings/1/type"), "critic");
  EXPECT_DOUBLE_EQ(m.number("/ratings/1/value"), 9.5);
  EXPECT_EQ(m.str("/ratings/1/image"), "rottentomatoes://image.rating.ripe");
  EXPECT_EQ(m.str("/ratings/3/image"), "themoviedb://image.rating");
  EXPECT_DOUBLE_EQ(m.number("/ratings/3/value"), 7.7);
}

TEST(Metadata, Chapters) {
  Media m(parse_metadata(fixture("metadata-movie-two-versions.json")));
  ASSERT_EQ(m.size("/chapters"), 3u);
  EXPECT_EQ(m.keys("/chapters/0"),
            (std::vector<std::string>{"index", "tag", "start_ms", "end_ms"}));
  EXPECT_EQ(m.integer("/chapters/0/index"), 1);
  EXPECT_EQ(m.str("/chapters/0/tag"), "Main Titles");
  EXPECT_EQ(m.integer("/chapters/0/start_ms"), 0);
  EXPECT_EQ(m.integer("/chapters/0/end_ms"), 252000);
  EXPECT_EQ(m.str("/chapters/2/tag"), "End Credits");
  EXPECT_EQ(m.integer("/chapters/2/start_ms"), 4985000);
  EXPECT_EQ(m.integer("/chapters/2/end_ms"), 5423794);

  Media unsorted(parse_metadata(
      item_json(R"("Chapter":[{"index":2,"tag":"B","startTimeOffset":500,"endTimeOffset":900},)"
                R"({"index":1,"tag":"A","startTimeOffset":0,"endTimeOffset":500}])")));
  ASSERT_EQ(unsorted.size("/chapters"), 2u);
  EXPECT_EQ(unsorted.str("/chapters/0/tag"), "A");
  EXPECT_EQ(unsorted.str("/chapters/1/tag"), "B");
}

TEST(Metadata, DynamicRangeOfAVersion) {
  struct Case {
    std::string_view stream;
    const char* hdr;            // null: SDR
    std::int64_t dovi_profile;  // -1: null
  };
  const Case cases[] = {
      {R"("colorTrc":"smpte2084")", "hdr10", -1},
      {R"("colorTrc":"smpte2084","DOVIPresent":false,"DOVIProfile":8)", "hdr10", -1},
      {R"("colorTrc":"arib-std-b67")", "hlg", -1},
      {R"("colorTrc":"bt709")", nullptr, -1},
      {R"("codec":"hevc")", nullptr, -1},
      // Profile 5 has no HDR10 fallback and no colorTrc.
      {R"("DOVIPresent":true,"DOVIProfile":5,"DOVILevel":6)", "dolby_vision", 5},
      {R"("colorTrc":"smpte2084","DOVIPresent":"1","DOVIProfile":"7","DOVIELPresent":"1")",
       "dolby_vision", 7},
      {R"("colorTrc":"arib-std-b67","DOVIPresent":1,"DOVIProfile":8,"DOVIBLCompatID":4)",
       "dolby_vision", 8},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.stream));
    Media m(parse_metadata(one_video_stream(c.stream)));
    ASSERT_EQ(m.size("/versions"), 1u);
    if (c.hdr)
      EXPECT_EQ(m.str("/versions/0/hdr"), c.hdr);
    else
      EXPECT_TRUE(m.is_null("/versions/0/hdr"));
    if (c.dovi_profile >= 0)
      EXPECT_EQ(m.integer("/versions/0/dovi_profile"), c.dovi_profile);
    else
      EXPECT_TRUE(m.is_null("/versions/0/dovi_profile"));
  }
}

TEST(Metadata, NumbersAsStringsGiveTheSameMedia) {
  // Every number of the movie as a string, every flag as "1"/"0".
  auto typed = parse_metadata(fixture("metadata-movie-two-versions.json"));
  auto strings = parse_metadata(fixture("metadata-movie-strings.json"));
  ASSERT_EQ(strings.error, "");
  EXPECT_EQ(strings.media_json, typed.media_json);
  EXPECT_EQ(strings.markers, typed.markers);
  EXPECT_EQ(strings.duration_ms, 5423794);
  Media m(strings);
  EXPECT_EQ(m.integer("/year"), 1992);
  EXPECT_EQ(m.integer("/versions/1/id"), 412233);
  EXPECT_EQ(m.str("/versions/1/hdr"), "dolby_vision");
  EXPECT_EQ(m.integer("/versions/1/dovi_profile"), 8);
  EXPECT_DOUBLE_EQ(m.number("/ratings/2/value"), 9.2);
}

TEST(Metadata, XmlGivesTheSameMediaAsJson) {
  auto json = parse_metadata(fixture("metadata-movie-two-versions.json"));
  auto xml = parse_metadata(fixture("metadata-movie-two-versions.xml"));
  ASSERT_EQ(xml.error, "");
  EXPECT_EQ(xml.media_json, json.media_json);
  EXPECT_EQ(xml.type, "movie");
  EXPECT_EQ(xml.duration_ms, 5423794);
  EXPECT_EQ(xml.markers, json.markers);
}

TEST(Metadata, MarkersOfOtherTypesOrWithoutBothEndsAreLeftOut) {
  auto p = parse_metadata(item_json(
      R"("Marker":[{"type":"commercial","startTimeOffset":300000,"endTimeOffset":420000},)"
      R"({"type":"bookmark","startTimeOffset":1000,"endTimeOffset":2000},)"
      R"({"type":"intro","startTimeOffset":5000},)"
      R"({"type":"credits","startTimeOffset":900,"endTimeOffset":800},)"
      R"({"type":"intro","startTimeOffset":"1000.4","endTimeOffset":"30000"},)"
      R"({"id":7,"type":"intro","startTimeOffset":1000,"endTimeOffset":30000}])"));
  Media m(p);
  EXPECT_EQ(p.markers,
            (std::vector<Marker>{{"intro", 1000, 30000}, {"commercial", 300000, 420000}}));
  ASSERT_EQ(m.size("/markers"), 2u);
  EXPECT_EQ(m.str("/markers/1/type"), "commercial");
}

TEST(Metadata, ContainerAndFirstVersionFillWhatTheItemLacks) {
  auto p = parse_metadata(
      R"({"MediaContainer":{"librarySectionID":"7","librarySectionTitle":"Films","Metadata":[)"
      R"({"type":"movie","Media":[{"id":"9","duration":"1200000","container":"mp4"}]}]}})");
  Media m(p);
  EXPECT_EQ(m.integer("/library_section_id"), 7);
  EXPECT_EQ(m.str("/library_section_title"), "Films");
  EXPECT_EQ(m.integer("/duration_ms"), 1200000);
  EXPECT_EQ(p.duration_ms, 1200000);
  EXPECT_TRUE(m.is_null("/versions/0/size"));  // no Part: size unknown
}

TEST(Metadata, SizeOfAVersionIsTheSumOfItsParts) {
  Media m(parse_metadata(
      item_json(R"("Media":[{"id":1,"Part":[{"id":2,"size":1000},{"id":3,"size":"234"}]}])")));
  EXPECT_EQ(m.integer("/versions/0/size"), 1234);
}

TEST(Metadata, CodecsComeFromTheStreamsWhenTheVersionDoesNotNameThem) {
  Media m(parse_metadata(
      item_json(R"("Media":[{"id":1,"Part":[{"id":2,"container":"mp4","Stream":[)"
                R"({"streamType":2,"codec":"aac","channels":2},{"streamType":1,"codec":"h264"},)"
                R"({"streamType":2,"codec":"eac3","channels":6,"selected":"1"}]}]}])")));
  EXPECT_EQ(m.str("/versions/0/video_codec"), "h264");
  EXPECT_EQ(m.str("/versions/0/container"), "mp4");
  // The selected audio stream is the one the version plays by default.
  EXPECT_EQ(m.str("/versions/0/audio_codec"), "eac3");
  EXPECT_EQ(m.integer("/versions/0/audio_channels"), 6);
}

TEST(Metadata, ListsAreCapped) {
  std::string roles = R"("Role":[)";
  for (int i = 0; i < 250; ++i) {
    if (i) roles += ",";
    roles += R"({"id":)" + std::to_string(i) + R"(,"tag":"Actor","role":"X"})";
  }
  roles += "]";
  Media m(parse_metadata(item_json(roles)));
  EXPECT_EQ(m.size("/roles"), kMaxMetadataList);
  EXPECT_EQ(m.integer("/roles/199/id"), 199);
}

TEST(Metadata, NotAnItemIsAnError) {
  const std::string cases[] = {
      "",
      "  \r\n",
      "garbage",
      fixture("unauthorized.html"),
      "<!DOCTYPE html><html><head><title>Not Found</title></head><body><h1>404</h1></body></html>",
      "{}",
      "[1,2]",
      R"({"MediaContainer":{"size":0}})",
      R"({"MediaContainer":{"size":1,"Metadata":[]}})",
      R"({"MediaContainer":{"size":1,"Metadata":[{"title":"cut off)",
      R"(<MediaContainer size="0"></MediaContainer>)",
      R"(<Response code="404" />)",
  };
  for (const auto& body : cases) {
    auto p = parse_metadata(body);
    EXPECT_NE(p.error, "") << body;
    EXPECT_EQ(p.media_json, "") << body;
    EXPECT_TRUE(p.markers.empty()) << body;
    EXPECT_FALSE(p.duration_ms.has_value()) << body;
    EXPECT_EQ(p.type, "") << body;
  }
}

}  // namespace
}  // namespace plextap::enrich
