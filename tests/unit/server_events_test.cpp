// The server's own events: notification messages, session snapshots and resource samples,
// read alike from XML and JSON.
#include "enrich/server_events.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "capture/classify.hpp"

namespace plextap::enrich {
namespace {

using Outcome = NotificationParse::Outcome;

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(PLEXTAP_FIXTURES_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

constexpr std::int64_t kSeen = 1'700'000'000'123;

TEST(Notification, Playing) {
  auto n = parse_notification(fixture("notification-playing.json"), kSeen);
  ASSERT_EQ(n.outcome, Outcome::kept);
  ASSERT_EQ(n.events.size(), 1u);
  const auto& e = n.events[0];
  EXPECT_EQ(e.kind, capture::Kind::notification);
  EXPECT_EQ(e.ts_ms, kSeen);
  EXPECT_EQ(e.op, "playing");
  EXPECT_EQ(e.client.id, "ytgcp5ywyn8xzsyp6yybukey");
  EXPECT_EQ(e.rating_key, "144504");
  EXPECT_EQ(e.fields, R"("type":"playing","session_key":"29","key":"/library/metadata/144504",)"
                      R"("state":"playing","time_ms":154000,"play_queue_item_id":null,)"
                      R"("transcode_session":null)");
}

TEST(Notification, PlayingTranscoded) {
  auto n = parse_notification(fixture("notification-playing-transcode.json"), kSeen);
  ASSERT_EQ(n.events.size(), 1u);
  EXPECT_EQ(n.events[0].fields,
            R"("type":"playing","session_key":"45","key":"/library/metadata/65547",)"
            R"("state":"paused","time_ms":26530,"play_queue_item_id":2211762,)"
            R"("transcode_session":"3gk8278lyxrc905hn8jgrgfr")");
}

TEST(Notification, OneEventPerEntry) {
  auto n = parse_notification(
      R"({"NotificationContainer":{"type":"playing","PlaySessionStateNotification":[)"
      R"({"sessionKey":1,"clientIdentifier":"a","ratingKey":10,"viewOffset":"5","state":"playing"},)"
      R"({"sessionKey":"2","clientIdentifier":"b","ratingKey":"20","state":"stopped"}]}})",
      kSeen);
  ASSERT_EQ(n.events.size(), 2u);
  EXPECT_EQ(n.events[0].client.id, "a");
  EXPECT_EQ(n.events[0].rating_key, "10");
  EXPECT_NE(n.events[0].fields.find(R"("session_key":"1")"), std::string::npos);
  EXPECT_NE(n.events[0].fields.find(R"("time_ms":5)"), std::string::npos);
  EXPECT_EQ(n.events[1].client.id, "b");
  EXPECT_NE(n.events[1].fields.find(R"("time_ms":null)"), std::string::npos);
}

TEST(Notification, Timeline) {
  auto n = parse_notification(fixture("notification-timeline.json"), kSeen);
  ASSERT_EQ(n.events.size(), 1u);
  EXPECT_EQ(n.events[0].op, "timeline");
  EXPECT_EQ(n.events[0].rating_key, "") << "a library update is not a play of the item";
  EXPECT_EQ(n.events[0].fields,
            R"("type":"timeline","section_id":2,"item_id":65547,"item_type":1,)"
            R"("title":"Aladdin","state":5,"updated_at":"2024-03-03T10:54:56.000Z")");
}

TEST(Notification, Activity) {
  auto n = parse_notification(fixture("notification-activity.json"), kSeen);
  ASSERT_EQ(n.events.size(), 1u);
  EXPECT_EQ(n.events[0].op, "activity");
  EXPECT_EQ(n.events[0].fields,
            R"("type":"activity","event":"updated","uuid":"40874a0a-9558-4554-b070-0dae4e2f5b9c",)"
            R"("activity_type":"library.refresh.items","title":"Refreshing",)"
            R"("subtitle":"Checking files","progress":0,"user_id":1)");
}

TEST(Notification, TranscodeUpdate) {
  auto n = parse_notification(fixture("notification-transcode-update.json"), kSeen);
  ASSERT_EQ(n.events.size(), 1u);
  EXPECT_EQ(n.events[0].op, "transcodeSession.update");
  EXPECT_EQ(n.events[0].fields,
            R"("type":"transcodeSession.update",)"
            R"("transcode_key":"/transcode/sessions/3gk8278lyxrc905hn8jgrgfr",)"
            R"("video_decision":"copy","audio_decision":"transcode","speed":23.600000381469727,)"
            R"("throttled":false,"progress":1.2999999523162842,"hw_requested":true,)"
            R"("hw_full_pipeline":false)");
}

TEST(Notification, Status) {
  auto n = parse_notification(
      R"({"NotificationContainer":{"type":"status","StatusNotification":[{"title":"Library)"
      R"( scan complete","description":"Movies \"A\"","notificationName":"LIBRARY_UPDATE"}]}})",
      kSeen);
  ASSERT_EQ(n.events.size(), 1u);
  EXPECT_EQ(n.events[0].fields,
            R"("type":"status","title":"Library scan complete","description":"Movies \"A\"",)"
            R"("notification_name":"LIBRARY_UPDATE")");
}

TEST(Notification, UnknownAndMalformed) {
  auto unknown =
      parse_notification(R"({"NotificationContainer":{"type":"reachability","size":1}})", kSeen);
  EXPECT_EQ(unknown.outcome, Outcome::unknown);
  EXPECT_EQ(unknown.type, "reachability");
  EXPECT_TRUE(unknown.events.empty());
  for (std::string_view bad :
       {"", "not json", "[1,2]", R"({"MediaContainer":{}})",
        R"({"NotificationContainer":{"size":1}})", R"({"NotificationContainer":{"type":7}})"}) {
    auto n = parse_notification(bad, kSeen);
    EXPECT_EQ(n.outcome, Outcome::malformed) << bad;
    EXPECT_TRUE(n.events.empty());
  }
}

TEST(Sessions, FromXmlWithTranscode) {
  auto s = parse_sessions(fixture("status-sessions.xml"), kSeen);
  ASSERT_TRUE(s.error.empty()) << s.error;
  ASSERT_EQ(s.events.size(), 1u);
  const auto& e = s.events[0];
  EXPECT_EQ(e.kind, capture::Kind::session);
  EXPECT_EQ(e.op, "snapshot");
  EXPECT_EQ(e.ts_ms, kSeen);
  EXPECT_EQ(e.client.id, "k5y3j33nmvjvd0uhvnd9zi2x");
  EXPECT_EQ(e.client.product, "Plex Web");
  EXPECT_EQ(e.client.version, "4.87.2");
  EXPECT_EQ(e.client.platform, "Firefox");
  EXPECT_EQ(e.client.platform_version, "108.0");
  EXPECT_EQ(e.client.device, "Windows");
  EXPECT_EQ(e.client.device_name, "Firefox");
  EXPECT_EQ(e.client.model, "bundled");
  EXPECT_EQ(e.client_more,
            R"("address":"127.0.0.1","public_address":null,"local":true,"relayed":false,)"
            R"("secure":true)");
  EXPECT_EQ(e.user_more, R"("account_id":1,"name":"APlexUser")");
  EXPECT_EQ(e.rating_key, "286254");
  EXPECT_EQ(e.fields,
            R"("session_key":"2","session_id":"rxiscwekkvkpukgi3pm9nklp","state":"playing",)"
            R"("time_ms":0,"duration_ms":734166,"bandwidth_kbps":10000000,"location":"lan",)"
            R"("chosen_media_id":350106,"video_resolution":"720p","hdr":null,)"
            R"("video_decision":"transcode","audio_decision":"transcode",)"
            R"("speed":6.900000095367432,"throttled":false,"hw_decode":null,"hw_encode":"mf")");
  EXPECT_EQ(s.session_keys, std::vector<std::string>{"2"});
}

TEST(Sessions, FromJsonDirectPlay) {
  auto s = parse_sessions(fixture("status-sessions.json"), kSeen);
  ASSERT_EQ(s.events.size(), 1u);
  const auto& e = s.events[0];
  EXPECT_EQ(e.client.id, "3tsdzir85m2onc3qyr255aq1");
  EXPECT_EQ(e.client.device_name, "DESKTOP-BL80MTD");
  EXPECT_EQ(e.client_more,
            R"("address":"10.10.10.171","public_address":"68.248.140.20","local":true,)"
            R"("relayed":false,"secure":true)");
  EXPECT_EQ(e.user_more, R"("account_id":1,"name":"Blindkitty38")");
  EXPECT_EQ(e.rating_key, "67085");
  EXPECT_EQ(e.fields,
            R"("session_key":"203","session_id":"93h7e00ncblxncqw9lkfaoxi","state":"playing",)"
            R"("time_ms":1000,"duration_ms":186240,"bandwidth_kbps":1050,"location":"lan",)"
            R"("chosen_media_id":130355,"video_resolution":null,"hdr":null,)"
            R"("video_decision":null,"audio_decision":null,"speed":null,"throttled":null,)"
            R"("hw_decode":null,"hw_encode":null)");
}

TEST(Sessions, XmlAndJsonAgree) {
  // The direct-play XML names the same fields as a JSON answer of the same item would.
  auto xml = parse_sessions(fixture("status-sessions-directplay.xml"), kSeen);
  ASSERT_EQ(xml.events.size(), 1u);
  EXPECT_EQ(xml.events[0].rating_key, "286463");
  std::string json =
      R"({"MediaContainer":{"size":1,"Metadata":[{"ratingKey":"286463","sessionKey":"3",)"
      R"("viewOffset":0,"duration":248066,"Media":[{"id":350307,"selected":true}],)"
      R"("User":{"id":1,"title":"APlexUser"},"Player":{"address":"127.0.0.1",)"
      R"("device":"Windows","machineIdentifier":"k5y3j33nmvjvd0uhvnd9zi2x","model":"bundled",)"
      R"("platform":"Firefox","platformVersion":"108.0","product":"Plex Web","state":"playing",)"
      R"("title":"Firefox","version":"4.87.2","local":true,"relayed":false,"secure":true},)"
      R"("Session":{"id":"rxiscwekkvkpukgi3pm9nklp","bandwidth":990,"location":"lan"}}]}})";
  auto js = parse_sessions(json, kSeen);
  ASSERT_EQ(js.events.size(), 1u);
  EXPECT_EQ(xml.events[0].fields, js.events[0].fields);
  EXPECT_EQ(xml.events[0].client_more, js.events[0].client_more);
  EXPECT_EQ(xml.events[0].user_more, js.events[0].user_more);
}

TEST(Sessions, HdrOfTheChosenMediaAndAFallbackToTheFirst) {
  std::string xml =
      R"(<MediaContainer size="1"><Video ratingKey="9" sessionKey="7">)"
      R"(<Media id="1" videoResolution="1080"><Part><Stream streamType="1"/></Part></Media>)"
      R"(<Media id="2" videoResolution="4k" selected="1"><Part>)"
      R"(<Stream streamType="1" DOVIPresent="1" DOVIProfile="8"/></Part></Media>)"
      R"(<Player machineIdentifier="p" state="paused"/></Video></MediaContainer>)";
  auto s = parse_sessions(xml, kSeen);
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_NE(s.events[0].fields.find(R"("chosen_media_id":2,"video_resolution":"4k",)"
                                    R"("hdr":"dolby_vision")"),
            std::string::npos)
      << s.events[0].fields;
  EXPECT_TRUE(s.events[0].user_more.empty());

  std::string first = R"(<MediaContainer><Video sessionKey="7"><Media id="5"><Part>)"
                      R"(<Stream streamType="1" colorTrc="smpte2084"/></Part></Media>)"
                      R"(<Player machineIdentifier="p"/></Video></MediaContainer>)";
  auto f = parse_sessions(first, kSeen);
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_NE(f.events[0].fields.find(R"("chosen_media_id":5,"video_resolution":null,)"
                                    R"("hdr":"hdr10")"),
            std::string::npos);
}

TEST(Sessions, NoneAndBroken) {
  auto none = parse_sessions(R"(<MediaContainer size="0"/>)", kSeen);
  EXPECT_TRUE(none.error.empty());
  EXPECT_TRUE(none.events.empty());
  auto html = parse_sessions("<html><body>401 Unauthorized</body></html>", kSeen);
  EXPECT_FALSE(html.error.empty());
  EXPECT_TRUE(html.events.empty());
}

TEST(Resources, LatestSampleFromXmlAndJson) {
  for (const char* name : {"statistics-resources.xml", "statistics-resources.json"}) {
    auto r = parse_resources(fixture(name), 2, kSeen);
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->kind, capture::Kind::resources);
    EXPECT_EQ(r->op, "sample");
    EXPECT_EQ(r->ts_ms, kSeen);
    EXPECT_EQ(r->fields, R"("host_cpu_pct":3.5,"process_cpu_pct":1.25,"host_memory_pct":17.2,)"
                         R"("process_memory_pct":0.5,"sampled_at":"2024-06-14T17:00:33.000Z",)"
                         R"("transcoder_active_video_sessions":2)")
        << name;
  }
  auto unknown = parse_resources(fixture("statistics-resources.json"), std::nullopt, kSeen);
  ASSERT_TRUE(unknown);
  EXPECT_TRUE(unknown->fields.ends_with(R"("transcoder_active_video_sessions":null)"));
  EXPECT_FALSE(parse_resources(R"({"MediaContainer":{"size":0}})", 1, kSeen));
  EXPECT_FALSE(parse_resources("garbage", 1, kSeen));
}

TEST(Resources, TranscoderActiveFromTheRoot) {
  EXPECT_EQ(parse_transcoder_active(R"(<MediaContainer transcoderActiveVideoSessions="3"/>)"), 3);
  EXPECT_EQ(parse_transcoder_active(R"({"MediaContainer":{"transcoderActiveVideoSessions":0}})"),
            0);
  EXPECT_EQ(parse_transcoder_active(R"({"MediaContainer":{}})"), std::nullopt);
}

TEST(ServerRecord, SessionEventBuildsAStoredRecord) {
  auto s = parse_sessions(fixture("status-sessions.xml"), kSeen);
  ASSERT_EQ(s.events.size(), 1u);
  auto record = capture::build_server_record(s.events[0]);
  EXPECT_NE(record.json.find(R"("kind":"session")"), std::string::npos) << record.json;
  EXPECT_NE(record.json.find(R"("source":"server")"), std::string::npos);
  EXPECT_NE(record.json.find(R"("name":"APlexUser")"), std::string::npos);
  EXPECT_EQ(capture::stored_client_id(record.json), "k5y3j33nmvjvd0uhvnd9zi2x");
  EXPECT_EQ(capture::stored_rating_key(record.json), "286254");
}

}  // namespace
}  // namespace plextap::enrich
