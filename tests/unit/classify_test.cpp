#include "capture/classify.hpp"

#include <gtest/gtest.h>

namespace plextap::capture {
namespace {

struct Case {
  std::string_view method;
  std::string_view target;
  Kind kind;
  std::string_view op;
};

void expect_route(const Case& c) {
  auto route = classify(c.method, c.target);
  ASSERT_TRUE(route.has_value()) << c.method << " " << c.target;
  EXPECT_EQ(route->kind, c.kind) << c.method << " " << c.target;
  EXPECT_EQ(route->op, c.op) << c.method << " " << c.target;
}

TEST(Classify, PlaybackReportsByPathWhateverTheMethod) {
  for (auto method : {"GET", "PUT", "POST"}) {
    expect_route({method, "/:/timeline?ratingKey=1&state=playing&time=1000", Kind::timeline, ""});
    expect_route({method, "/:/progress?key=65547&time=120000&state=stopped", Kind::timeline, ""});
  }
  for (auto method : {"GET", "PUT"}) {
    expect_route(
        {method, "/:/scrobble?identifier=com.plexapp.plugins.library&key=1", Kind::scrobble, ""});
    expect_route({method, "/:/unscrobble?key=1", Kind::unscrobble, ""});
    expect_route({method, "/:/rate?key=1&rating=8.0", Kind::rate, ""});
  }
  expect_route({"GET", "/:/timeline", Kind::timeline, ""});
}

TEST(Classify, PlayQueueOperations) {
  const Case cases[] = {
      {"POST", "/playQueues?type=video&uri=server%3A%2F%2Fx&own=1", Kind::playqueue, "create"},
      {"GET", "/playQueues/9631?own=1&window=50", Kind::playqueue, "get"},
      {"PUT", "/playQueues/9631?uri=library%3A%2F%2Fu%2Fitem%2F1&next=1", Kind::playqueue, "add"},
      {"PUT", "/playQueues/9631?next=0&playlistID=12", Kind::playqueue, "add"},
      {"PUT", "/playQueues/9631/shuffle", Kind::playqueue, "shuffle"},
      {"PUT", "/playQueues/9631/unshuffle", Kind::playqueue, "unshuffle"},
      {"PUT", "/playQueues/9631/reset", Kind::playqueue, "reset"},
      {"PUT", "/playQueues/9631/items/2211764/move?after=2211762", Kind::playqueue, "move"},
      {"DELETE", "/playQueues/9631/items/2211763", Kind::playqueue, "remove"},
      {"DELETE", "/playQueues/9631/items", Kind::playqueue, "clear"},
      {"DELETE", "/playQueues/9631", Kind::playqueue, "delete"},
      // Queue traffic without a defined operation is still recorded, op null.
      {"GET", "/playQueues", Kind::playqueue, ""},
      {"PUT", "/playQueues/9631?next=1", Kind::playqueue, ""},
      {"POST", "/playQueues/9631", Kind::playqueue, ""},
      {"GET", "/playQueues/9631/items", Kind::playqueue, ""},
      {"PUT", "/playQueues/9631/items/2211763", Kind::playqueue, ""},
      {"GET", "/playQueues/9631/somethingNew", Kind::playqueue, ""},
  };
  for (const auto& c : cases) expect_route(c);
}

TEST(Classify, AddNeedsTheUriParameterItselfNotASubstring) {
  expect_route({"PUT", "/playQueues/9631?suri=x&urix=y", Kind::playqueue, ""});
  expect_route({"PUT", "/playQueues/9631?next=1&uri", Kind::playqueue, "add"});
}

TEST(Classify, DecisionForEveryMediaType) {
  for (auto type : {"video", "music", "audio", "subtitles"}) {
    std::string target = std::string("/") + type + "/:/transcode/universal/decision?path=%2Fx";
    expect_route({"GET", target, Kind::decision, ""});
  }
}

TEST(Classify, TranscodeStartPingStop) {
  for (auto type : {"video", "music", "audio"}) {
    std::string base = std::string("/") + type + "/:/transcode/universal/";
    expect_route({"GET", base + "start", Kind::transcode, "start"});
    expect_route(
        {"GET", base + "start.m3u8?path=%2Flibrary%2Fmetadata%2F1", Kind::transcode, "start"});
    expect_route({"GET", base + "start.mpd?session=abc", Kind::transcode, "start"});
    expect_route({"GET", base + "start.mkv", Kind::transcode, "start"});
    expect_route({"GET", base + "ping?session=abc", Kind::transcode, "ping"});
    expect_route({"GET", base + "stop?session=abc", Kind::transcode, "stop"});
  }
}

TEST(Classify, Searches) {
  expect_route({"GET", "/hubs/search?query=wallace&limit=8&sectionId=1", Kind::search, ""});
  expect_route({"GET", "/hubs/search/voice?query=dead+poop&type=1", Kind::search, ""});
  expect_route({"GET", "/library/sections/2/search?type=1&query=x", Kind::search, ""});
}

TEST(Classify, OneTrailingSlashAndAbsoluteFormAreTolerated) {
  expect_route({"GET", "/hubs/search/?query=x", Kind::search, ""});
  expect_route({"GET", "/:/timeline/?state=playing", Kind::timeline, ""});
  expect_route({"DELETE", "/playQueues/9631/items/", Kind::playqueue, "clear"});
  expect_route({"GET", "http://127.0.0.1:32400/:/scrobble?key=1", Kind::scrobble, ""});
}

TEST(Classify, NearMissesAreNotRecorded) {
  const std::pair<std::string_view, std::string_view> misses[] = {
      {"GET", "/:/timelineX"},
      {"GET", "/:/timeline/extra"},
      {"GET", "/:/Timeline"},
      {"GET", "/:/scrobbles"},
      {"GET", "/:/rate2"},
      {"GET", "/:/websockets/notifications"},
      {"GET", "/:/eventsource/notifications?filters=playing"},
      {"POST", "/playQueuesX"},
      {"POST", "/playqueues"},
      {"GET", "/playQueues//shuffle"},
      {"GET", "/hubs/searchfoo?query=x"},
      {"GET", "/hubs/search/voicex"},
      {"GET", "/hubs/search/voice/more"},
      {"GET", "/hubs/promoted"},
      {"GET", "/library/sections/1/all"},
      {"GET", "/library/sections/1/search/more"},
      {"GET", "/library/sections//search"},
      {"GET", "/library/sections/1/searchx"},
      {"GET", "/library/metadata/65547?includeGuids=1"},
      {"GET", "/library/parts/1/2/file.mkv"},
      {"GET", "/library/parts/73812/1450141780/file.mkv?X-Plex-Token=x"},
      {"GET", "/video/:/transcode/universal/session/abc/base/00001.ts"},
      {"GET", "/video/:/transcode/universal/session/abc/base/index.m3u8"},
      {"GET", "/video/:/transcode/universal/session/abc/0/header"},
      {"GET", "/video/:/transcode/universal/dash/abc/0/initial.mp4"},
      {"GET", "/video/:/transcode/universal/startx"},
      {"GET", "/video/:/transcode/universal/start."},
      {"GET", "/video/:/transcode/universal/decisions"},
      {"POST", "/video/:/transcode/universal/fallback"},
      {"GET", "/video/:/transcode/universal/subtitles"},
      {"GET", "/subtitles/:/transcode/universal/start.m3u8"},
      {"GET", "/photo/:/transcode?width=240&url=%2Flibrary%2Fmetadata%2F1%2Fthumb"},
      {"GET", "/photo/:/transcode/universal/decision"},
      {"GET", "/videos/:/transcode/universal/decision"},
      {"GET", "/video/:/transcode/decision"},
      {"GET", "/status/sessions"},
      {"GET", "/identity"},
      {"GET", "/"},
      {"GET", ""},
      {"OPTIONS", "*"},
      {"GET", "/web/index.html?x=/:/timeline"},
  };
  for (auto [method, target] : misses)
    EXPECT_FALSE(classify(method, target).has_value()) << method << " " << target;
}

TEST(Classify, QueryCannotChangeTheRoute) {
  EXPECT_FALSE(classify("GET", "/status/sessions?/:/timeline").has_value());
  EXPECT_FALSE(classify("GET", "/identity#/:/timeline").has_value());
}

TEST(Kinds, NamesRoundTrip) {
  for (auto kind : {Kind::timeline, Kind::scrobble, Kind::unscrobble, Kind::rate, Kind::playqueue,
                    Kind::decision, Kind::transcode, Kind::search, Kind::other}) {
    auto back = kind_from_string(to_string(kind));
    ASSERT_TRUE(back.has_value()) << to_string(kind);
    EXPECT_EQ(*back, kind);
  }
  EXPECT_EQ(to_string(Kind::playqueue), "playqueue");
  EXPECT_EQ(to_string(Kind::unscrobble), "unscrobble");
  EXPECT_FALSE(kind_from_string("queues").has_value());
  EXPECT_FALSE(kind_from_string("").has_value());
}

}  // namespace
}  // namespace plextap::capture
