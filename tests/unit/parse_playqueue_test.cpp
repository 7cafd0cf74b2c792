#include "parse_test_support.hpp"

namespace plextap::capture {
namespace {

using testing::fixture;
using testing::parse_call;

// python-plexapi creating a queue from an episode with continuous=1.
constexpr std::string_view kCreate =
    "/playQueues?includeChapters=1&includeRelated=1&repeat=0&shuffle=0&continuous=1"
    "&uri=server%3A%2F%2F96f2fe7a78c9dc1f16a16bedbe90f98149be16b4%2Fcom.plexapp.plugins.library"
    "%2Flibrary%2Fmetadata%2F284997&type=video&key=%2Flibrary%2Fmetadata%2F284997";

TEST(ParsePlayQueue, CreateFromXml) {
  auto f = parse_call("POST", kCreate, 200, "text/xml", fixture("playqueue-create.xml"));
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.rating_key(), "284997");
  EXPECT_EQ(f.integer("/play_queue_id"), 9631);  // from the answer: the path has no id
  EXPECT_EQ(f.str("/source_uri"),
            "server://96f2fe7a78c9dc1f16a16bedbe90f98149be16b4/com.plexapp.plugins.library/"
            "library/metadata/284997");
  EXPECT_EQ(f.str("/type"), "video");
  EXPECT_FALSE(f.flag("/shuffle"));
  EXPECT_EQ(f.integer("/repeat"), 0);
  EXPECT_TRUE(f.flag("/continuous"));
  EXPECT_TRUE(f.is_null("/own"));
  EXPECT_EQ(f.integer("/total_count"), 3);
  EXPECT_EQ(f.integer("/selected_item_id"), 2211762);
  EXPECT_EQ(f.str("/selected_rating_key"), "284997");
  EXPECT_EQ(f.integer("/version"), 1);
  EXPECT_FALSE(f.flag("/shuffled"));
  ASSERT_EQ(f.size("/items"), 3u);
  EXPECT_EQ(f.str("/items/0"), "284997");
  EXPECT_EQ(f.str("/items/1"), "284998");
  EXPECT_EQ(f.str("/items/2"), "284999");
}

TEST(ParsePlayQueue, XmlAndJsonGiveTheSameFields) {
  auto x = parse_call("POST", kCreate, 200, "application/xml", fixture("playqueue-create.xml"));
  auto j = parse_call("POST", kCreate, 200, "application/json", fixture("playqueue-create.json"));
  EXPECT_EQ(j.parse_error(), "");
  EXPECT_EQ(x.json(), j.json());
  EXPECT_EQ(x.rating_key(), j.rating_key());
}

TEST(ParsePlayQueue, LenientJsonTyping) {
  // Same answer with ids as strings and flags as "1"/"0" strings or numbers.
  const std::string body =
      R"({"MediaContainer":{"playQueueID":"9631","playQueueSelectedItemID":"2211763",
    "playQueueSelectedMetadataItemID":"284998","playQueueShuffled":"1","playQueueTotalCount":"2",
    "playQueueVersion":4,"Metadata":[{"ratingKey":284998},{"ratingKey":"284997"}]}})";
  auto f = parse_call("PUT", "/playQueues/9631/shuffle", 200, "application/json", body);
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.integer("/play_queue_id"), 9631);
  EXPECT_EQ(f.integer("/selected_item_id"), 2211763);
  EXPECT_EQ(f.str("/selected_rating_key"), "284998");
  EXPECT_TRUE(f.flag("/shuffled"));
  EXPECT_EQ(f.integer("/total_count"), 2);
  EXPECT_EQ(f.integer("/version"), 4);
  EXPECT_EQ(f.str("/items/0"), "284998");
  EXPECT_EQ(f.str("/items/1"), "284997");
  EXPECT_EQ(f.rating_key(), "");
}

TEST(ParsePlayQueue, GetTakesIdFromPathAndSourceFromAnswer) {
  auto f = parse_call("GET", "/playQueues/777?own=1&window=50", 200, "application/json",
                      fixture("playqueue-create.json"));
  EXPECT_EQ(f.integer("/play_queue_id"), 777);
  EXPECT_TRUE(f.flag("/own"));
  EXPECT_EQ(f.str("/source_uri"),
            "library://3bbbe6f7-628f-4983-ae5d-7c05779c4c28/item/%2Flibrary%2Fmetadata%2F284997");
  EXPECT_EQ(f.size("/items"), 3u);
}

TEST(ParsePlayQueue, AddNamesTheAddedItem) {
  auto f = parse_call("PUT",
                      "/playQueues/9631?uri=library%3A%2F%2F3bbbe6f7-628f-4983-ae5d-7c05779c4c28"
                      "%2Fitem%2Flibrary%2Fmetadata%2F285010&next=1",
                      200, "text/xml", fixture("playqueue-create.xml"));
  EXPECT_EQ(f.rating_key(), "285010");
  // The queue's source stays what the server reports; the added uri is in params.
  EXPECT_EQ(f.str("/source_uri"),
            "library://3bbbe6f7-628f-4983-ae5d-7c05779c4c28/item/%2Flibrary%2Fmetadata%2F284997");
}

TEST(ParsePlayQueue, ItemsCappedAtOneThousand) {
  std::string body = R"(<MediaContainer playQueueID="1" playQueueTotalCount="1005">)";
  for (int i = 0; i < 1005; ++i) body += "<Track ratingKey=\"" + std::to_string(i) + "\"/>";
  body += "</MediaContainer>";
  auto f = parse_call("GET", "/playQueues/1", 200, "application/xml", body);
  EXPECT_EQ(f.parse_error(), "");
  ASSERT_EQ(f.size("/items"), 1000u);
  EXPECT_EQ(f.str("/items/999"), "999");
  EXPECT_EQ(f.integer("/total_count"), 1005);
}

TEST(ParsePlayQueue, WrongShapeKeepsRequestFields) {
  for (auto body :
       {std::string(R"({"error":"nope"})"), fixture("playqueue-create.json").substr(0, 300),
        std::string("<html><body>404 Not Found</body></html>")}) {
    auto f = parse_call("POST", kCreate, 200, "", body);
    EXPECT_NE(f.parse_error(), "") << body;
    EXPECT_EQ(f.str("/type"), "video");
    EXPECT_TRUE(f.flag("/continuous"));
    EXPECT_TRUE(f.is_null("/play_queue_id"));
    EXPECT_TRUE(f.is_null("/items"));
    EXPECT_TRUE(f.is_null("/total_count"));
    EXPECT_EQ(f.rating_key(), "284997");
  }
}

TEST(ParsePlayQueue, EmptyAnswerToDelete) {
  auto f = parse_call("DELETE", "/playQueues/9631/items/2211763", 200, "", "");
  EXPECT_EQ(f.parse_error(), "");
  EXPECT_EQ(f.integer("/play_queue_id"), 9631);
  EXPECT_TRUE(f.is_null("/items"));
}

}  // namespace
}  // namespace plextap::capture
