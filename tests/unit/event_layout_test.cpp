// The stored event layout: build_record writes it, the readers in capture/event find fields
// by their place in it. These tests pin the order they rely on, against hostile params.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "capture/event.hpp"
#include "parse_test_support.hpp"

namespace plextap::capture {
namespace {

CapturedExchange exchange(std::string target, std::string content_type, std::string body) {
  CapturedExchange c;
  c.route = classify("GET", target);
  c.exchange.ts_ms = 1'732'449'600'000;
  c.exchange.method = "GET";
  c.exchange.target = std::move(target);
  c.exchange.status = 200;
  c.exchange.remote_addr = "192.0.2.7";
  c.exchange.request_headers = {{"X-Plex-Client-Identifier", "real-client"}};
  c.exchange.response_headers = {{"Content-Type", std::move(content_type)}};
  c.exchange.response_body = std::move(body);
  c.token_fp = "0123abcd";
  return c;
}

std::vector<std::string> top_level_keys(const std::string& json) {
  simdjson::dom::parser parser;
  std::vector<std::string> keys;
  simdjson::dom::element doc = parser.parse(json);
  simdjson::dom::object object = doc.get_object();
  for (auto field : object) keys.emplace_back(field.key);
  return keys;
}

// Params a client controls that spell the fields the readers look for.
constexpr std::string_view kHostileTimeline =
    "/:/timeline?ratingKey=42&state=playing&time=1000&duration=60000&playQueueItemID=77"
    "&remote_addr=evil&rating_key=evil&user=%7B%22x%22%7D&client=%7B%22id%22%3A%22evil%22%7D"
    "&note=%22client%22%3A%7B%22id%22%3A%22evil%22";

TEST(EventLayout, FieldOrderTheReadersRelyOn) {
  auto record = build_record(exchange(std::string(kHostileTimeline), "text/xml", ""));
  const std::vector<std::string> keys = top_level_keys(record.json);
  const std::vector<std::string> leading{"ts",     "kind",   "op",          "method",
                                         "path",   "params", "status",      "latency_ms",
                                         "client", "user",   "remote_addr", "rating_key"};
  ASSERT_GE(keys.size(), leading.size() + 1);
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.begin() + leading.size()), leading);
  EXPECT_EQ(keys[keys.size() - 2], "source");
  EXPECT_EQ(keys.back(), "media");
  EXPECT_TRUE(std::string_view(record.json).ends_with(kStoredMediaTail));
  EXPECT_EQ(stored_source(record.json), EventSource::proxy);
  EXPECT_FALSE(stored_user_named(record.json));
}

TEST(EventLayout, AServerEventHasTheSameLeadingFields) {
  ServerEvent e;
  e.kind = Kind::session;
  e.ts_ms = 1'732'449'600'000;
  e.op = "snapshot";
  e.client.id = "tv-1";
  e.client.product = "Plex for LG";
  e.client_more = R"("address":"10.0.0.5","local":true)";
  e.user_more = R"("account_id":1,"name":"Ann {the admin}")";
  e.rating_key = "65547";
  e.fields = R"("session_key":"45","state":"playing","time_ms":26530)";
  auto record = build_server_record(e);
  const std::vector<std::string> keys = top_level_keys(record.json);
  const std::vector<std::string> leading{"ts",     "kind",   "op",          "method",
                                         "path",   "params", "status",      "latency_ms",
                                         "client", "user",   "remote_addr", "rating_key"};
  ASSERT_GE(keys.size(), leading.size() + 2);
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.begin() + leading.size()), leading);
  EXPECT_EQ(keys[keys.size() - 2], "source");
  EXPECT_EQ(keys.back(), "media");
  EXPECT_EQ(record.kind, static_cast<std::uint8_t>(Kind::session));
  EXPECT_EQ(record.rating_key, "65547");
  EXPECT_EQ(stored_source(record.json), EventSource::server);
  EXPECT_EQ(stored_rating_key(record.json), "65547");
  EXPECT_EQ(stored_client_id(record.json), "tv-1");
  EXPECT_TRUE(stored_user_named(record.json));
  // The brace inside the name does not end the user object early.
  EXPECT_EQ(record.json[stored_user_end(record.json) - 1], '"');
  EXPECT_NE(record.json.find(R"("client":{"id":"tv-1","product":"Plex for LG")"),
            std::string::npos);
  EXPECT_NE(record.json.find(R"("address":"10.0.0.5","local":true})"), std::string::npos);
  EventReader reader;
  EventFields f;
  ASSERT_TRUE(reader.read(record.json, Kind::session, f));
  EXPECT_EQ(f.client_id, "tv-1");
}

TEST(EventLayout, ReadersFindTheRecordsOwnFieldsNotTheClientsParams) {
  auto record = build_record(exchange(std::string(kHostileTimeline), "text/xml", ""));
  const std::string_view json = record.json;
  // What the exports pass: the record without its opening brace.
  for (std::string_view text : {json, json.substr(1)}) {
    EXPECT_EQ(stored_rating_key(text), "42");
    EXPECT_EQ(stored_client_id(text), "real-client");
    auto user_end = stored_user_end(text);
    ASSERT_NE(user_end, std::string_view::npos);
    auto user_at = text.find("\"user\":{");
    EXPECT_EQ(text.substr(user_at, user_end + 1 - user_at), "\"user\":{\"token_fp\":\"0123abcd\"}");
  }
  EXPECT_NE(json.find(stored_client_prefix("real-client")), std::string_view::npos);
  EXPECT_EQ(json.find(stored_client_prefix("evil")), std::string_view::npos);
}

TEST(EventLayout, AnEventWithoutItsOwnRatingKeyHasNone) {
  // A search names rating keys in its results; the event itself is of no item.
  auto record = build_record(exchange("/hubs/search?query=wallace&limit=8&sectionId=1",
                                      "application/json", testing::fixture("hubs-search.json")));
  ASSERT_NE(record.json.find("\"rating_key\":\"1975\""), std::string::npos);
  EXPECT_EQ(stored_rating_key(record.json), "");
  EXPECT_EQ(stored_client_id(record.json), "real-client");
}

TEST(EventLayout, ReaderReadsTheFieldsPlaysNeed) {
  auto record = build_record(exchange(std::string(kHostileTimeline), "text/xml", ""));
  EventReader reader;
  EventFields f;
  ASSERT_TRUE(reader.read(record.json, Kind::timeline, f));
  EXPECT_EQ(f.client_id, "real-client");
  EXPECT_EQ(f.rating_key, "42");
  EXPECT_EQ(f.state, "playing");
  EXPECT_EQ(f.time_ms, 1000);
  EXPECT_EQ(f.duration_ms, 60000);
  EXPECT_EQ(f.play_queue_item_id, "77");
  EXPECT_FALSE(reader.read("{\"ts\":", Kind::timeline, f));
}

}  // namespace
}  // namespace plextap::capture
