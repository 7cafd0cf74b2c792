#include "parse_test_support.hpp"

namespace plextap::capture {
namespace {

using testing::fixture;
using testing::parse_call;

constexpr std::string_view kWallace = "/hubs/search?query=wallace&limit=8&sectionId=1";

TEST(ParseSearch, HubsAndRowsInOrder) {
  auto f = parse_call("GET", kWallace, 200, "application/json", fixture("hubs-search.json"));
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.rating_key(), "");
  EXPECT_EQ(f.str("/query"), "wallace");
  EXPECT_EQ(f.integer("/limit"), 8);
  EXPECT_EQ(f.integer("/section_id"), 1);

  ASSERT_EQ(f.size("/hubs"), 7u);
  EXPECT_EQ(f.str("/hubs/0/hub_identifier"), "show");
  EXPECT_EQ(f.str("/hubs/0/type"), "show");
  EXPECT_EQ(f.integer("/hubs/0/size"), 1);
  EXPECT_FALSE(f.flag("/hubs/0/more"));
  EXPECT_EQ(f.str("/hubs/3/hub_identifier"), "actor");
  EXPECT_EQ(f.integer("/hubs/4/size"), 0);
  EXPECT_EQ(f.str("/hubs/6/hub_identifier"), "playlist");

  EXPECT_EQ(f.integer("/result_count"), 8);
  ASSERT_EQ(f.size("/results"), 8u);
  EXPECT_EQ(f.str("/results/0/rating_key"), "1975");
  EXPECT_EQ(f.str("/results/0/type"), "show");
  EXPECT_EQ(f.str("/results/0/title"), "Wallace & Gromit's Cracking Contraptions");
  EXPECT_EQ(f.str("/results/1/rating_key"), "1973");
  EXPECT_EQ(f.str("/results/2/rating_key"), "1971");
  // Tag rows (collections, people) have no rating key; their name is the tag.
  EXPECT_TRUE(f.is_null("/results/3/rating_key"));
  EXPECT_EQ(f.str("/results/3/type"), "tag");
  EXPECT_EQ(f.str("/results/3/title"), "Wallace & Gromit Collection");
  EXPECT_EQ(f.str("/results/5/title"), "Dee Wallace");
  EXPECT_EQ(f.str("/results/6/rating_key"), "1990");
  EXPECT_EQ(f.str("/results/7/title"), "The Autochef");
}

TEST(ParseSearch, XmlAndJsonGiveTheSameFields) {
  auto x = parse_call("GET", kWallace, 200, "text/xml", fixture("hubs-search.xml"));
  auto j = parse_call("GET", kWallace, 200, "application/json", fixture("hubs-search.json"));
  EXPECT_EQ(x.parse_error(), "");
  EXPECT_EQ(x.json(), j.json());
}

TEST(ParseSearch, VoiceRowsWithoutRatingKeys) {
  auto f = parse_call("GET", "/hubs/search/voice?query=dead+poop&type=1&limit=5", 200,
                      "application/json", fixture("hubs-search-voice.json"));
  EXPECT_EQ(f.str("/query"), "dead poop");
  EXPECT_EQ(f.integer("/limit"), 5);
  EXPECT_TRUE(f.is_null("/section_id"));
  ASSERT_EQ(f.size("/hubs"), 2u);
  EXPECT_EQ(f.str("/hubs/1/hub_identifier"), "results.search.2");
  EXPECT_TRUE(f.is_null("/hubs/1/more"));
  EXPECT_EQ(f.integer("/result_count"), 3);
  EXPECT_TRUE(f.is_null("/results/0/rating_key"));
  EXPECT_EQ(f.str("/results/2/title"), "Deadwood");
}

TEST(ParseSearch, SectionSearchRowsWithoutHubs) {
  const std::string body = R"xml(<MediaContainer size="2" librarySectionID="2">
<Video ratingKey="65547" type="movie" title="Aladdin"/>
<Video ratingKey="65548" type="movie" title="Aladdin (2019)"/>
</MediaContainer>)xml";
  auto f = parse_call("GET", "/library/sections/2/search?type=1&query=aladdin", 200, "", body);
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.integer("/section_id"), 2);
  EXPECT_EQ(f.size("/hubs"), 0u);
  EXPECT_EQ(f.integer("/result_count"), 2);
  EXPECT_EQ(f.str("/results/1/title"), "Aladdin (2019)");
}

TEST(ParseSearch, ResultsCappedAtTwentyButCounted) {
  std::string body =
      R"({"MediaContainer":{"Hub":[{"hubIdentifier":"movie","size":30,"more":"1","Metadata":[)";
  for (int i = 0; i < 30; ++i)
    body.append(i ? "," : "")
        .append(R"({"ratingKey":)")
        .append(std::to_string(100 + i))
        .append("}");
  body += "]}]}}";
  auto f = parse_call("GET", "/hubs/search?query=a", 200, "application/json", body);
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.integer("/result_count"), 30);
  ASSERT_EQ(f.size("/results"), 20u);
  EXPECT_EQ(f.str("/results/19/rating_key"), "119");  // numeric keys become strings
  EXPECT_TRUE(f.flag("/hubs/0/more"));
}

TEST(ParseSearch, BadAnswerKeepsTheQuery) {
  auto f = parse_call("GET", "/hubs/search?query=%20", 400, "text/html",
                      "<html><head><title>Bad Request</title></head><body></body></html>");
  EXPECT_NE(f.parse_error(), "");
  EXPECT_EQ(f.str("/query"), " ");
  EXPECT_TRUE(f.is_null("/hubs"));
  EXPECT_TRUE(f.is_null("/result_count"));
  EXPECT_TRUE(f.is_null("/results"));
}

TEST(ParseSearch, JsonArrayRootIsWrongShape) {
  auto f = parse_call("GET", kWallace, 200, "application/json", "[1,2]");
  EXPECT_NE(f.parse_error(), "");
  EXPECT_TRUE(f.is_null("/hubs"));
}

}  // namespace
}  // namespace plextap::capture
