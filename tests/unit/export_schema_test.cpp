// The export schemas against the real writers: sample records of every kind, built by the
// code that writes them, must hold no field their schema lacks (and no value of a type it
// does not allow); and CSV columns come from the schema alone.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "analytics/clients.hpp"
#include "analytics/export.hpp"
#include "analytics/plays.hpp"
#include "analytics/queues.hpp"
#include "analytics/runs.hpp"
#include "analytics/record_sink.hpp"
#include "analytics/schema.hpp"
#include "capture/enrichment_record.hpp"
#include "capture/event.hpp"
#include "enrich/metadata.hpp"
#include "enrich/server_events.hpp"
#include "parse_test_support.hpp"

namespace plextap::analytics {
namespace {

using capture::testing::fixture;

constexpr std::int64_t kT0 = 1'732'449'600'000;

capture::CapturedExchange exchange(std::string target, std::string content_type, std::string body) {
  capture::CapturedExchange c;
  c.route = capture::classify("GET", target);
  c.exchange.ts_ms = kT0;
  c.exchange.method = "GET";
  c.exchange.target = std::move(target);
  c.exchange.status = 200;
  c.exchange.remote_addr = "192.0.2.7";
  c.exchange.request_headers = {{"X-Plex-Client-Identifier", "client-1"},
                                {"X-Plex-Product", "Plex Web"}};
  c.exchange.response_headers = {{"Content-Type", std::move(content_type)}};
  c.exchange.response_body = std::move(body);
  c.token_fp = "0123abcd";
  return c;
}

std::string media_json(const char* name) {
  auto parsed = enrich::parse_metadata(fixture(name));
  EXPECT_EQ(parsed.error, "") << name;
  return parsed.media_json;
}

// A stored event as `export` prints it: the id in front, as a string, the account in `user`
// and the media joined (as MediaJoin does).
std::string exported(const store::Record& record, const std::string& media) {
  std::string json = record.json;
  const auto user_end = capture::stored_user_end(json);
  if (user_end != std::string::npos && !capture::stored_user_named(json))
    json.insert(user_end, R"(,"account_id":1,"name":"Ann")");
  if (!media.empty() && json.ends_with(capture::kStoredMediaTail))
    json =
        json.substr(0, json.size() - capture::kStoredMediaTail.size()) + "\"media\":" + media + "}";
  return "{\"id\":\"123456789012345678\"," + json.substr(1);
}

// The export kind a stored event kind belongs to.
std::string export_of(std::uint8_t kind) {
  for (const auto& name : event_export_names()) {
    if (name == "events") continue;
    for (auto k : kinds_of_export(name))
      if (k == kind) return name;
  }
  ADD_FAILURE() << "no export for kind " << int(kind);
  return "events";
}

struct Sample {
  std::string what;
  std::string kind;  // export kind
  std::string json;
};

std::vector<Sample> event_samples() {
  const std::string movie = media_json("metadata-movie-two-versions.json");
  const std::string episode = media_json("metadata-episode-markers.json");
  std::vector<capture::CapturedExchange> proxy{
      exchange("/:/timeline?ratingKey=65547&key=%2Flibrary%2Fmetadata%2F65547&state=playing"
               "&time=1000&duration=60000&playQueueItemID=77",
               "text/xml", fixture("timeline.xml")),
      exchange("/:/timeline?ratingKey=65547&state=stopped&time=5000", "application/json",
               fixture("timeline-terminated.json")),
      exchange("/:/scrobble?identifier=com.plexapp.plugins.library&key=65547", "", ""),
      exchange("/:/unscrobble?identifier=com.plexapp.plugins.library&key=65547", "", ""),
      exchange("/:/rate?identifier=com.plexapp.plugins.library&key=65547&rating=7.5", "", ""),
      exchange("/playQueues?type=video&uri=server%3A%2F%2Fabc%2Fcom.plexapp.plugins.library%2F"
               "library%2Fmetadata%2F65547&shuffle=0&repeat=0&continuous=1&own=1",
               "application/json", fixture("playqueue-create.json")),
      exchange("/playQueues?type=video&uri=library%3A%2F%2Fx%2Fitem%2F65547", "text/xml",
               fixture("playqueue-create.xml")),
      exchange("/video/:/transcode/universal/decision?path=%2Flibrary%2Fmetadata%2F65547"
               "&protocol=dash&directPlay=0&directStream=1&session=s1&location=lan",
               "text/xml", fixture("decision.xml")),
      exchange("/video/:/transcode/universal/decision?path=%2Flibrary%2Fmetadata%2F65547"
               "&directPlay=1",
               "application/json", fixture("decision-directplay.json")),
      exchange("/video/:/transcode/universal/start.mpd?path=%2Flibrary%2Fmetadata%2F65547"
               "&protocol=dash&maxVideoBitrate=4000",
               "", ""),
      exchange("/hubs/search?query=wallace&limit=8&sectionId=1", "application/json",
               fixture("hubs-search.json")),
      exchange("/hubs/search?query=wallace", "text/xml", fixture("hubs-search.xml")),
      exchange("/hubs/search?query=x", "text/html", fixture("unauthorized.html")),
      exchange("/identity", "", ""),
  };
  proxy.back().exchange.response_truncated = true;
  std::vector<Sample> out;
  for (auto& c : proxy) {
    std::string what = c.exchange.target;
    auto record = capture::build_record(std::move(c));
    out.push_back({what, export_of(record.kind), exported(record, movie)});
  }

  std::vector<capture::ServerEvent> server;
  for (const char* name : {"notification-activity.json", "notification-playing-transcode.json",
                           "notification-playing.json", "notification-timeline.json",
                           "notification-transcode-update.json"})
    for (auto& e : enrich::parse_notification(fixture(name), kT0).events) server.push_back(e);
  for (auto& e :
       enrich::parse_notification(
           R"({"NotificationContainer":{"type":"status","StatusNotification":[{"title":"Scan",)"
           R"("description":"Movies","notificationName":"LIBRARY_UPDATE"}]}})",
           kT0)
           .events)
    server.push_back(e);
  for (const char* name :
       {"status-sessions.xml", "status-sessions.json", "status-sessions-directplay.xml"})
    for (auto& e : enrich::parse_sessions(fixture(name), kT0).events) server.push_back(e);
  for (const char* name : {"statistics-resources.json", "statistics-resources.xml"})
    if (auto e = enrich::parse_resources(fixture(name), 2, kT0)) server.push_back(*e);
  for (const auto& e : server) {
    auto record = capture::build_server_record(e);
    out.push_back({std::string(capture::to_string(e.kind)) + " " + e.op, export_of(record.kind),
                   exported(record, episode)});
  }
  return out;
}

Play full_play() {
  Play p;
  p.client_id = "c1";
  p.rating_key = "100";
  p.play_queue_item_id = "7";
  p.started_at_ms = kT0;
  p.ended_at_ms = kT0 + 61'500;
  p.duration_ms = 120'000;
  p.watched_ms = 60'000;
  p.max_position_ms = 61'000;
  p.completion = 0.5083;
  p.intro_skipped = true;
  p.decision = PlayDecision{kT0 - 1000, "s1", 1000, "ok", true, false, "copy", "transcode", "5"};
  p.search = PlaySearch{42, kT0 - 60'000, "the office", 12};
  p.chosen_media_id = "5";
  p.video_resolution = "4k";
  p.hdr = "hdr10";
  p.run_id = "0123456789abcdef";
  p.account_id = 1;
  p.user_name = "Ann";
  p.location = "lan";
  p.bandwidth_kbps = 4000;
  p.player_address = "10.0.0.5";
  return p;
}

std::vector<Sample> row_samples() {
  std::vector<Sample> out;
  Play sparse;  // what every play has: its run
  sparse.run_id = "0123456789abcdef";
  for (const Play& p : {full_play(), sparse}) {
    std::string json;
    base::JsonWriter w(json);
    write_play(p, w, p.client_id.empty() ? "" : media_json("metadata-episode-markers.json"));
    out.push_back({"play", "plays", json});
  }
  Run run;
  run.run_id = "0123456789abcdef";
  run.client_id = "tv-1";
  run.user_name = "Ann";
  Run sparse_run;  // what every run has
  sparse_run.run_id = "fedcba9876543210";
  sparse_run.client_id = "web-1";
  for (const Run& r : {run, sparse_run}) {
    std::string json;
    base::JsonWriter w(json);
    write_run(r, w);
    out.push_back({"run", "runs", json});
  }
  QueueOutcome queue;
  queue.play_queue_id = "55";
  queue.first_play_at_ms = kT0;
  QueueOutcome sparse_queue;  // what every queue has
  sparse_queue.play_queue_id = "56";
  sparse_queue.client_id = "web-1";
  queue.client_id = "tv-1";
  for (const QueueOutcome& q : {queue, sparse_queue}) {
    std::string json;
    base::JsonWriter w(json);
    write_queue_outcome(q, w);
    out.push_back({"queue outcome", "queue_outcomes", json});
  }
  ClientRow c;
  c.client_id = "tv-1";
  c.product = "Plex for LG";
  c.user_fields = R"("account_id":2,"name":"Bob")";
  c.first_seen_ms = c.last_seen_ms = kT0;
  for (const ClientRow& r : {c, ClientRow{}}) {
    std::string json;
    base::JsonWriter w(json);
    write_client(r, w);
    out.push_back({"client", "clients", json});
  }
  for (const char* name : {"metadata-movie-strings.json", "metadata-movie-two-versions.xml"}) {
    capture::MediaEntry entry;
    entry.fetched_at_ms = kT0;
    entry.status = 200;
    entry.media_json = media_json(name);
    std::string stored = entry.encode();
    out.push_back({name, "media", R"({"rating_key":"100",)" + stored.substr(1)});
  }
  capture::MediaEntry failed;
  failed.status = 404;
  failed.error = "not found";
  out.push_back({"failed fetch", "media", R"({"rating_key":"101",)" + failed.encode().substr(1)});
  return out;
}

// The JSON text at `pointer` ("" when there is none).
std::string text_at(const capture::testing::JsonDoc& doc, std::string_view pointer) {
  simdjson::dom::element e;
  if (doc.root().at_pointer(pointer).get(e) != simdjson::SUCCESS) return {};
  return simdjson::minify(e);
}

std::string lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& l : v) s += "  " + l + "\n";
  return s;
}

TEST(ExportSchema, EveryFieldTheWritersWriteIsInItsSchema) {
  auto samples = event_samples();
  ASSERT_GE(samples.size(), 25u);
  std::set<std::string> kinds;
  for (const auto& s : samples) {
    kinds.insert(s.kind);
    EXPECT_EQ(lines(schema_misfits(schema_of(s.kind), s.json)), "") << s.what << "\n" << s.json;
    EXPECT_EQ(lines(schema_misfits(schema_of("events"), s.json)), "") << s.what << "\n" << s.json;
  }
  // Every event export has a sample.
  for (const auto& name : event_export_names())
    EXPECT_TRUE(name == "events" || kinds.count(name)) << "no sample of " << name;
  for (const auto& s : row_samples())
    EXPECT_EQ(lines(schema_misfits(schema_of(s.kind), s.json)), "") << s.what << "\n" << s.json;
}

// The fields of `fields` every record must have that `object` lacks, nested objects
// included; the play outcome of a search is left out (`export searches` adds it to the
// stored event, which is what the samples are).
void gaps(const std::vector<Field>& fields, simdjson::dom::object object, const std::string& prefix,
          std::vector<std::string>& out) {
  for (const Field& f : fields) {
    if (f.name == "played" || f.name == "played_rating_key" || f.name == "seconds_to_play")
      continue;
    simdjson::dom::element value;
    if (object[f.name].get(value) != simdjson::SUCCESS) {
      if (!f.optional) out.push_back("missing " + prefix + f.name);
    } else if (value.is_object() && !f.fields.empty()) {
      gaps(f.fields, value.get_object(), prefix + f.name + ".", out);
    }
  }
}

// Every field is written, null when unknown, so a schema field no record has is a schema
// mistake: checked for the kinds whose writers are complete.
TEST(ExportSchema, EveryFieldOfASchemaIsWritten) {
  auto samples = event_samples();
  for (auto& s : row_samples()) samples.push_back(std::move(s));
  for (const auto& s : samples) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(s.json);
    std::vector<std::string> missing;
    gaps(schema_of(s.kind).fields, doc.get_object(), "", missing);
    EXPECT_EQ(lines(missing), "") << s.what << "\n" << s.json;
  }
}

TEST(ExportSchema, AFieldTheSchemaLacksIsNamed) {
  auto misfits = schema_misfits(
      schema_of("timeline"),
      R"({"id":"1","state":7,"client":{"id":"c","shoe_size":44},"media":{"title":"t","x":1}})");
  EXPECT_EQ(lines(misfits),
            "  field state: a value of a type the schema does not allow: 7\n"
            "  unknown field client.shoe_size\n"
            "  unknown field media.x\n");
  EXPECT_EQ(lines(schema_misfits(schema_of("clients"), R"({"id":"1"})")), "  unknown field id\n");
}

// Every kind of `export` that has rows has a schema, and the two derived kinds too.
TEST(ExportSchema, EveryKindHasOne) {
  for (const char* kind : {"events", "timeline", "scrobbles", "ratings", "queues", "decisions",
                           "transcodes", "searches", "other", "notifications", "sessions",
                           "resources", "plays", "clients", "media", "runs", "queue_outcomes"})
    EXPECT_NO_THROW(schema_of(kind)) << kind;
  EXPECT_THROW(schema_of("har"), std::invalid_argument);
}

std::ptrdiff_t index_of(const std::vector<std::string>& columns, std::string_view name) {
  return std::find(columns.begin(), columns.end(), name) - columns.begin();
}

TEST(ExportSchema, ColumnsFlattenObjectsAndKeepArraysWhole) {
  auto cols = schema_of("events").columns();
  auto has = [&](std::string_view c) {
    return std::find(cols.begin(), cols.end(), c) != cols.end();
  };
  EXPECT_EQ(cols.front(), "id");
  EXPECT_TRUE(has("client.id"));
  EXPECT_TRUE(has("user.account_id"));
  EXPECT_TRUE(has("media.title"));
  EXPECT_TRUE(has("media.guids.imdb"));
  EXPECT_TRUE(has("media.versions"));  // an array: one cell
  EXPECT_TRUE(has("params"));          // free-form: one cell
  EXPECT_TRUE(has("subtitle.codec"));
  EXPECT_TRUE(has("host_cpu_pct"));
  EXPECT_FALSE(has("media"));  // never a bare media column beside media.*
  EXPECT_FALSE(has("client"));
  std::set<std::string> unique(cols.begin(), cols.end());
  EXPECT_EQ(unique.size(), cols.size());
  // The kind fields come after the leading ones and before media, which is last.
  auto at = [&](std::string_view c) { return index_of(cols, c); };
  EXPECT_LT(at("rating_key"), at("state"));
  EXPECT_LT(at("state"), at("source"));
  EXPECT_EQ(cols.back(), "media.chapters");

  auto plays = schema_of("plays").columns();
  auto pos = [&](std::string_view c) { return index_of(plays, c); };
  EXPECT_EQ(pos("player_address") + 1, pos("chosen_media_id"));
  EXPECT_EQ(pos("search.id") + 1, pos("search.query"));
  EXPECT_EQ(plays.back(), "run_index");
  auto searches = schema_of("searches").columns();
  EXPECT_EQ(searches.back(), "seconds_to_play");
  auto media = schema_of("media").columns();
  auto mpos = [&](std::string_view c) { return index_of(media, c); };
  EXPECT_EQ(mpos("media.index") + 1, mpos("media.parent_rating_key"));
  EXPECT_EQ(mpos("media.parent_rating_key") + 1, mpos("media.grandparent_rating_key"));
  auto ops = schema_of("queue_outcomes").columns();
  EXPECT_NE(std::find(ops.begin(), ops.end(), "ops.unshuffle"), ops.end());
  EXPECT_NE(std::find(ops.begin(), ops.end(), "user.name"), ops.end());
}

TEST(ExportSchema, JsonSchemaDocument) {
  for (const auto& kind : schema_kinds()) {
    const Schema& schema = schema_of(kind);
    capture::testing::JsonDoc doc(json_schema(schema));
    EXPECT_EQ(doc.str("/$schema"), "https://json-schema.org/draft/2020-12/schema");
    EXPECT_EQ(doc.str("/type"), "object");
    std::vector<std::string> expected;
    for (const auto& f : schema.fields) expected.push_back(f.name);
    EXPECT_EQ(doc.keys("/properties"), expected) << kind;
  }
  capture::testing::JsonDoc doc(json_schema(schema_of("timeline")));
  EXPECT_EQ(text_at(doc, "/properties/id/type"), R"("string")");
  EXPECT_EQ(text_at(doc, "/properties/ts/format"), R"("date-time")");
  EXPECT_EQ(text_at(doc, "/properties/play_queue_item_id/type"), R"(["string","integer","null"])");
  EXPECT_EQ(text_at(doc, "/properties/media/type"), R"(["object","null"])");
  EXPECT_TRUE(doc.has("/properties/media/properties/guids/properties/imdb"));
  EXPECT_TRUE(doc.has("/properties/media/properties/versions/items/properties/hdr"));
  const std::string required = text_at(doc, "/required");
  EXPECT_NE(required.find(R"("id")"), std::string::npos);
  EXPECT_EQ(required.find(R"("parse_error")"), std::string::npos);  // only on a failed parse
}

// ---- the CSV sink --------------------------------------------------------------------------

// What a sink printed.
class Output {
 public:
  Output() : file_(std::tmpfile()) {}
  ~Output() { std::fclose(file_); }
  std::FILE* file() { return file_; }
  std::string text() {
    std::fflush(file_);
    std::rewind(file_);
    std::string s;
    char buf[4096];
    while (auto n = std::fread(buf, 1, sizeof buf, file_)) s.append(buf, n);
    return s;
  }

 private:
  std::FILE* file_;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep)
      out.emplace_back();
    else
      out.back() += c;
  }
  return out;
}

// The cells of one CSV line (quoted cells unquoted).
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      out.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& c : v) s += (s.empty() ? "" : ",") + c;
  return s;
}

TEST(CsvSink, AnEmptyExportHasTheFullHeader) {
  for (const auto& kind : schema_kinds()) {
    Output out;
    {
      auto sink = make_record_sink(ExportFormat::csv, schema_of(kind), {}, out.file());
      sink->flush();
      EXPECT_EQ(sink->written(), 0u);
    }
    EXPECT_EQ(out.text(), joined(schema_of(kind).columns()) + "\n") << kind;
  }
}

TEST(CsvSink, ASparseRecordFillsItsColumnsAndLeavesTheRestEmpty) {
  Output out;
  const auto cols = schema_of("timeline").columns();
  auto sink = make_record_sink(ExportFormat::csv, schema_of("timeline"), {}, out.file());
  sink->write(
      R"({"id":"98765432109876543","kind":"timeline","params":{"a":"1,2"},"client":{"id":"c"},)"
      R"("media":{"title":"Wallace \"Gromit\"","genres":["Comedy"]}})");
  sink->flush();
  auto rows = split(out.text(), '\n');
  ASSERT_EQ(rows.size(), 3u);  // header, row, the empty rest after the last newline
  std::vector<std::string> expected(cols.size());
  auto set = [&](std::string_view col, std::string cell) {
    expected[std::find(cols.begin(), cols.end(), col) - cols.begin()] = std::move(cell);
  };
  set("id", "98765432109876543");
  set("kind", "timeline");
  set("params", R"("{""a"":""1,2""}")");
  set("client.id", "c");
  set("media.title", R"("Wallace ""Gromit""")");
  set("media.genres", R"("[""Comedy""]")");
  EXPECT_EQ(rows[1], joined(expected));
}

// The header is known before the first row, so a field only a later record has (the media
// of an item enriched while --follow runs) still gets its column.
TEST(CsvSink, FollowKeepsAFieldOnlyALaterRecordHas) {
  auto first = capture::build_record(exchange("/:/timeline?ratingKey=1&state=playing", "", ""));
  auto later = capture::build_record(exchange("/:/timeline?ratingKey=2&state=paused", "", ""));
  Output out;
  auto sink = make_record_sink(ExportFormat::csv, schema_of("timeline"), {}, out.file());
  sink->write(exported(first, ""));
  sink->flush();  // what --follow does between polls
  sink->write(exported(later, media_json("metadata-episode-markers.json")));
  sink->flush();
  auto rows = split(out.text(), '\n');
  ASSERT_EQ(rows.size(), 4u);
  const auto header = cells(rows[0]);
  const auto title = std::find(header.begin(), header.end(), "media.title") - header.begin();
  ASSERT_LT(static_cast<std::size_t>(title), header.size());
  ASSERT_EQ(cells(rows[1]).size(), header.size()) << rows[1];
  ASSERT_EQ(cells(rows[2]).size(), header.size()) << rows[2];
  EXPECT_EQ(cells(rows[1])[title], "");
  EXPECT_EQ(cells(rows[2])[title], "Food and Drink");
}

TEST(Columns, SelectedByNameInTheOrderGiven) {
  const Schema& events = schema_of("events");
  auto names = select_columns(events, "media.title, id,client");
  EXPECT_EQ(names, (std::vector<std::string>{"media.title", "id", "client"}));
  auto cols = csv_columns(events, names);
  ASSERT_GE(cols.size(), 3u);
  EXPECT_EQ(cols[0], "media.title");
  EXPECT_EQ(cols[1], "id");
  EXPECT_EQ(cols[2], "client.id");
  EXPECT_EQ(cols.back(), "client.secure");
  EXPECT_EQ(csv_columns(events, {}), events.columns());

  try {
    select_columns(events, "id,media.titel");
    ADD_FAILURE() << "an unknown column was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown column 'media.titel' for export events (closest: media.title)");
  }
  EXPECT_THROW(select_columns(schema_of("clients"), "client.id"), std::invalid_argument);
  EXPECT_THROW(select_columns(events, "params.a"), std::invalid_argument);
}

TEST(Columns, NarrowBothFormats) {
  const std::string record =
      R"({"id":"5","kind":"timeline","client":{"id":"c","product":"p"},"state":"playing",)"
      R"("media":{"title":"t","year":1999}})";
  const auto names = select_columns(schema_of("timeline"), "state,client.id,media");
  Output json;
  auto jsonl = make_record_sink(ExportFormat::jsonl, schema_of("timeline"), names, json.file());
  jsonl->write(record);
  jsonl->flush();
  EXPECT_EQ(json.text(),
            R"({"client":{"id":"c"},"state":"playing","media":{"title":"t","year":1999}})"
            "\n");
  Output csv;
  auto sink = make_record_sink(ExportFormat::csv, schema_of("timeline"), names, csv.file());
  sink->write(record);
  sink->flush();
  auto rows = split(csv.text(), '\n');
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[0].starts_with("state,client.id,media.type,media.title,media.year,")) << rows[0];
  EXPECT_TRUE(rows[1].starts_with("playing,c,,t,1999,")) << rows[1];
}

}  // namespace
}  // namespace plextap::analytics
