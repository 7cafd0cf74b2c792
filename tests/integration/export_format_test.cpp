// Exports that load the same way every day, through the real binary (README "Export and
// stats"): `--schema` without a store, ids as strings, `--no-media`, `--columns`, a CSV
// header that does not depend on the data, and `stats --format json`. The store is written
// with store::Writer as the proxy writes it (capture::build_record), media included.
#include <gtest/gtest.h>

#include <filesystem>

#include "capture/enrichment_record.hpp"
#include "store/writer.hpp"
#include "tests/bench/synthetic_events.hpp"
#include "tests/integration/recording_story.hpp"
#include "tests/integration/recording_support.hpp"
#include "tests/unit/both_sides_records.hpp"
#include "tests/unit/temp_dir.hpp"

namespace plextap::itest {
namespace {

constexpr std::int64_t kT0 = 1'732'449'600'000;  // 2024-11-24T12:00:00.000Z
constexpr std::int64_t kSec = 1000;

class ExportFormatTest : public ::testing::Test {
 protected:
  // web-1 plays item 100 (enriched: "Pilot") then item 200 (not enriched).
  void SetUp() override {
    store::Store store(dir.path() / "store", false);
    store::Writer writer(store, {});
    auto put = [&](store::Record r) {
      ASSERT_TRUE(writer.submit(std::make_unique<bench::Ready>(std::move(r))));
    };
    for (std::int64_t s = 0; s <= 30; s += 10)
      put(test_support::timeline(kT0 + s * kSec, "web-1", "100", "playing", s * kSec, 600 * kSec));
    put(test_support::timeline(kT0 + 31 * kSec, "web-1", "100", "stopped", 31 * kSec, 600 * kSec));
    put(test_support::timeline(kT0 + 40 * kSec, "web-1", "200", "playing", 0, 900 * kSec, "8"));
    capture::MediaEntry entry;
    entry.fetched_at_ms = kT0;
    entry.status = 200;
    entry.media_json = R"({"type":"episode","title":"Pilot","year":2001,"genres":["Drama"]})";
    ASSERT_TRUE(writer.submit(
        std::make_unique<store::KeyedRecord>(store::Record::Table::media, "100", entry.encode())));
    writer.flush();
  }

  CliResult cli(std::vector<std::string> args, const std::filesystem::path& data = {}) {
    args.push_back("--data");
    args.push_back((data.empty() ? dir.path() : data).string());
    return run_plextap(args);
  }

  test_support::TempDir dir;
};

std::string header_of(const CliResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(0, r.out.find('\n'));
}

TEST_F(ExportFormatTest, SchemaNeedsNoStore) {
  test_support::TempDir empty;
  for (const char* kind :
       {"events", "timeline", "plays", "clients", "media", "runs", "queue_outcomes", "searches"}) {
    auto r = cli({"export", kind, "--schema"}, empty.path() / "nothing-here");
    ASSERT_EQ(r.exit_code, 0) << kind << ": " << r.err;
    auto lines = split_lines(r.out);
    ASSERT_EQ(lines.size(), 1u) << r.out;
    JsonLine schema(lines[0]);
    EXPECT_EQ(schema.str("/$schema"), "https://json-schema.org/draft/2020-12/schema");
    EXPECT_EQ(schema.str("/title"), std::string("plextap export ") + kind);
    EXPECT_EQ(schema.str("/type"), "object");
  }
  auto events = JsonLine(split_lines(cli({"export", "events", "--schema"}).out).at(0));
  EXPECT_EQ(events.json("/properties/id/type"), R"("string")");
  EXPECT_EQ(events.keys("/properties").front(), "id");
  EXPECT_EQ(events.keys("/properties").back(), "media");
  auto plays = JsonLine(split_lines(cli({"export", "plays", "--schema"}).out).at(0));
  EXPECT_TRUE(plays.has("/properties/run_id"));
  EXPECT_TRUE(plays.has("/properties/search/properties/id"));

  auto har = cli({"export", "har", "--schema"});
  EXPECT_EQ(har.exit_code, 2) << har.out;
}

TEST_F(ExportFormatTest, IdsAreStrings) {
  auto events = export_result_lines(cli({"export", "events"}), "events");
  ASSERT_EQ(events.size(), 6u);
  std::uint64_t last = 0;
  for (const auto& e : events) {
    const std::string id = e.str("/id");
    ASSERT_FALSE(id.empty());
    EXPECT_EQ(id.find_first_not_of("0123456789"), std::string::npos) << e.json("/id");
    const std::uint64_t n = std::stoull(id);
    EXPECT_GT(n, std::uint64_t{1} << 53);  // past what a double holds exactly
    EXPECT_GT(n, last);
    last = n;
  }
  auto csv = split_lines(cli({"export", "events", "--format", "csv", "--columns", "id"}).out);
  ASSERT_EQ(csv.size(), 1 + events.size());
  EXPECT_EQ(csv[0], "id");
  EXPECT_EQ(csv[1], events[0].str("/id"));
}

TEST_F(ExportFormatTest, NoMediaLeavesTheJoinOut) {
  auto joined = export_result_lines(cli({"export", "timeline"}), "timeline");
  ASSERT_EQ(joined.size(), 6u);
  EXPECT_EQ(joined[0].str("/media/title"), "Pilot");
  EXPECT_EQ(joined[5].json("/media"), "null");  // item 200 is not enriched

  auto bare = export_result_lines(cli({"export", "timeline", "--no-media"}), "timeline");
  ASSERT_EQ(bare.size(), joined.size());
  for (const auto& e : bare) EXPECT_EQ(e.json("/media"), "null") << e.text();
  EXPECT_LT(bare[0].text().size(), joined[0].text().size());

  auto plays = export_result_lines(cli({"export", "plays"}), "plays");
  ASSERT_FALSE(plays.empty());
  EXPECT_EQ(plays[0].str("/media/title"), "Pilot");
  auto bare_plays = export_result_lines(cli({"export", "plays", "--no-media"}), "plays");
  ASSERT_EQ(bare_plays.size(), plays.size());
  for (const auto& p : bare_plays) EXPECT_EQ(p.json("/media"), "null") << p.text();

  // The CSV keeps its columns, empty.
  EXPECT_EQ(header_of(cli({"export", "timeline", "--format", "csv", "--no-media"})),
            header_of(cli({"export", "timeline", "--format", "csv"})));
  EXPECT_EQ(cli({"export", "media", "--no-media"}).exit_code, 2);
}

TEST_F(ExportFormatTest, ColumnsSelectFields) {
  auto csv =
      cli({"export", "timeline", "--format", "csv", "--columns", "client.id,media.title,state"});
  auto rows = split_lines(csv.out);
  ASSERT_EQ(rows.size(), 7u) << csv.err;
  EXPECT_EQ(rows[0], "client.id,media.title,state");
  EXPECT_EQ(rows[1], "web-1,Pilot,playing");
  EXPECT_EQ(rows[6], "web-1,,playing");

  auto json = export_result_lines(cli({"export", "timeline", "--columns", "id,media.title,client"}),
                                  "timeline");
  ASSERT_EQ(json.size(), 6u);
  EXPECT_EQ(json[0].keys(""), (std::vector<std::string>{"id", "client", "media"}));
  EXPECT_EQ(json[0].keys("/media"), std::vector<std::string>{"title"});
  EXPECT_EQ(json[0].str("/client/product"), "Plex Web");
  EXPECT_EQ(json[5].json("/media"), "null");

  auto bad = cli({"export", "timeline", "--columns", "id,media.titel"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(bad.out.empty()) << bad.out;
  auto err = split_lines(bad.err);
  ASSERT_EQ(err.size(), 1u) << bad.err;
  EXPECT_NE(err[0].find("'media.titel'"), std::string::npos) << err[0];
  EXPECT_NE(err[0].find("closest: media.title"), std::string::npos) << err[0];
}

// The header is the kind's, whatever the store holds: the same on an empty store.
TEST_F(ExportFormatTest, CsvHeaderIsTheSameOnAnEmptyStore) {
  test_support::TempDir empty;
  { store::Store create(empty.path() / "store", false); }
  for (const char* kind : {"events", "timeline", "searches", "plays", "clients", "media"}) {
    auto filled = cli({"export", kind, "--format", "csv"});
    auto none = cli({"export", kind, "--format", "csv"}, empty.path());
    EXPECT_EQ(header_of(none), header_of(filled)) << kind;
    EXPECT_EQ(split_lines(none.out).size(), 1u) << kind << ": " << none.out;
    const auto header = csv_cells(header_of(none));
    EXPECT_EQ(std::find(header.begin(), header.end(), "media"), header.end()) << kind;
  }
  const auto timeline = csv_cells(header_of(cli({"export", "timeline", "--format", "csv"})));
  EXPECT_EQ(timeline.front(), "id");
  EXPECT_NE(std::find(timeline.begin(), timeline.end(), "media.title"), timeline.end());
}

// --follow in CSV: the header comes first, before any event, and an event of an enriched
// item committed later fills its media columns.
TEST_F(ExportFormatTest, CsvFollowHasTheHeaderBeforeAnyEvent) {
  using namespace std::chrono_literals;
  test_support::TempDir later;
  store::Store store(later.path() / "store", false);
  Child follow(
      {"export", "timeline", "--format", "csv", "--follow", "--data", later.path().string()});
  auto lines_out = [](std::size_t n) {
    return [n](const std::string& out) {
      return std::count(out.begin(), out.end(), '\n') >= static_cast<long>(n);
    };
  };
  ASSERT_TRUE(follow.wait_out(lines_out(1), 5s)) << follow.err();
  const std::string header = header_of(cli({"export", "timeline", "--format", "csv"}));
  EXPECT_EQ(split_lines(follow.out()).at(0), header);
  {
    store::Writer writer(store, {});
    capture::MediaEntry entry;
    entry.fetched_at_ms = kT0;
    entry.status = 200;
    entry.media_json = R"({"title":"Late"})";
    ASSERT_TRUE(writer.submit(
        std::make_unique<store::KeyedRecord>(store::Record::Table::media, "300", entry.encode())));
    ASSERT_TRUE(writer.submit(std::make_unique<bench::Ready>(
        test_support::timeline(kT0, "web-1", "300", "playing", 0, 60 * kSec))));
    writer.flush();
  }
  ASSERT_TRUE(follow.wait_out(lines_out(2), 5s)) << follow.out() << follow.err();
  const auto columns = csv_cells(header);
  const auto row = csv_cells(split_lines(follow.out()).at(1));
  ASSERT_EQ(row.size(), columns.size());
  const auto title = std::find(columns.begin(), columns.end(), "media.title") - columns.begin();
  EXPECT_EQ(row[title], "Late");
}

TEST_F(ExportFormatTest, StatsAsJson) {
  auto r = cli({"stats", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = split_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  JsonLine s(lines[0]);
  EXPECT_TRUE(s.str("/store").ends_with("store")) << s.json("/store");
  EXPECT_EQ(s.json("/events"), "6");
  EXPECT_EQ(s.json("/events_per_kind"), R"({"timeline":6})");
  EXPECT_EQ(s.str("/first"), "2024-11-24T12:00:00.000Z");
  EXPECT_EQ(s.str("/last"), "2024-11-24T12:00:40.000Z");
  EXPECT_EQ(s.json("/dropped"), "0");
  EXPECT_NE(s.json("/file_bytes"), "0");
  EXPECT_EQ(s.json("/items"), R"({"total":2,"enriched":1,"no_metadata":0,"pending":1})");
  EXPECT_EQ(s.json("/coverage/server_clients"), "0");
  EXPECT_EQ(s.json("/coverage/bypassing"), "[]");

  // The text says the same.
  auto text = cli({"stats"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("events      6"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("items       2 (enriched 1, no metadata 0, pending 1)"),
            std::string::npos)
      << text.out;
  EXPECT_EQ(cli({"stats", "--format", "yaml"}).exit_code, 2);
}

}  // namespace
}  // namespace plextap::itest
