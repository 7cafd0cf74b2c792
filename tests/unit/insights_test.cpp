// Insights (analytics/views.hpp): the views over a store, kept up to date incrementally,
// answer in the one table shape, filter by time and user, and list what plays now.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

#include "analytics/views.hpp"
#include "store/writer.hpp"
#include "tests/bench/synthetic_events.hpp"
#include "tests/unit/both_sides_records.hpp"
#include "tests/unit/temp_dir.hpp"

namespace plextap::analytics {
namespace {

using test_support::snapshot;
using test_support::timeline;

constexpr std::int64_t kT0 = 1'732'449'600'000;  // 2024-11-24T12:00:00.000Z
constexpr std::int64_t kSec = 1000;

simdjson::dom::array array(simdjson::dom::element e, std::string_view key) {
  simdjson::dom::array a;
  EXPECT_EQ(e[key].get_array().get(a), simdjson::SUCCESS) << key;
  return a;
}

// The view `name` of a views_json answer.
simdjson::dom::element view(simdjson::dom::element doc, std::string_view name) {
  const auto views = array(doc, "views");
  for (auto v : views)
    if (v["name"].get_string().value() == name) return v;
  ADD_FAILURE() << "no view " << name;
  return doc;
}

std::int64_t cell(simdjson::dom::element v, std::size_t row, std::string_view column) {
  std::size_t i = 0;
  const auto columns = array(v, "columns");
  for (auto c : columns) {
    if (c["name"].get_string().value() == column) break;
    ++i;
  }
  auto value = v["rows"].at(row).at(i);
  return value.is_int64() ? value.get_int64().value() : -1;
}

TEST(Insights, ViewsFromTheStoreKeptUpToDate) {
  test_support::TempDir dir;
  store::Store store(dir.path(), false);
  store::Writer writer(store, {});
  auto put = [&](store::Record r) {
    ASSERT_TRUE(writer.submit(std::make_unique<bench::Ready>(r)));
  };
  Insights insights(store);
  insights.update();
  simdjson::dom::parser parser;
  auto doc = parser.parse(insights.views_json({})).value();
  EXPECT_EQ(cell(view(doc, "overview"), 0, "plays"), 0);

  // Ann plays item 100 on the TV (the snapshot names her), then the web client plays 200.
  for (std::int64_t s = 0; s <= 60; s += 10)
    put(timeline(kT0 + s * kSec, "tv-1", "100", "playing", s * kSec, 600 * kSec));
  put(snapshot(kT0 + 61 * kSec, "tv-1", "100", "playing", 61 * kSec, 600 * kSec));
  put(timeline(kT0 + 62 * kSec, "tv-1", "100", "stopped", 62 * kSec, 600 * kSec));
  for (std::int64_t s = 0; s <= 30; s += 10)
    put(timeline(kT0 + 100 * kSec + s * kSec, "web-1", "200", "playing", s * kSec, 600 * kSec));
  writer.flush();
  insights.update();  // the store's events are long past: every play has ended

  std::string json = insights.views_json({});
  doc = parser.parse(json).value();
  auto overview = view(doc, "overview");
  EXPECT_EQ(cell(overview, 0, "plays"), 2) << json;
  EXPECT_EQ(cell(overview, 0, "users"), 1);
  EXPECT_EQ(cell(overview, 0, "clients"), 2);
  EXPECT_EQ(cell(overview, 0, "watched"), 92 * kSec);  // 62 s on the TV, 30 on the web
  auto users = view(doc, "users");
  EXPECT_EQ(array(users, "rows").size(), 2u);  // Ann, and nobody known

  // Filters: the user, and the time.
  ViewFilter ann;
  ann.user = "Ann";
  doc = parser.parse(insights.views_json(ann)).value();
  EXPECT_EQ(cell(view(doc, "overview"), 0, "plays"), 1);
  ViewFilter later;
  later.since_ms = kT0 + 90 * kSec;
  doc = parser.parse(insights.views_json(later)).value();
  EXPECT_EQ(cell(view(doc, "overview"), 0, "plays"), 1);
  EXPECT_NE(insights.users_json().find(R"("name":"Ann")"), std::string::npos);

  // Every view has the table shape.
  doc = parser.parse(json).value();
  const auto views = array(doc, "views");
  for (auto v : views) {
    const auto columns = array(v, "columns").size();
    const auto rows = array(v, "rows");
    for (auto row : rows) {
      simdjson::dom::array cells;
      ASSERT_EQ(row.get_array().get(cells), simdjson::SUCCESS);
      EXPECT_EQ(cells.size(), columns) << v["name"].get_string().value();
    }
  }

  // Downloads of the rows held.
  std::string plays = insights.export_text("plays", ExportFormat::jsonl, {});
  EXPECT_EQ(std::count(plays.begin(), plays.end(), '\n'), 2) << plays;
  EXPECT_THROW(insights.export_text("events", ExportFormat::jsonl, {}), std::invalid_argument);
}

TEST(Insights, NowPlayingListsThePlaysInProgress) {
  test_support::TempDir dir;
  store::Store store(dir.path(), false);
  store::Writer writer(store, {});
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  for (std::int64_t s = 0; s <= 20; s += 10)
    ASSERT_TRUE(writer.submit(std::make_unique<bench::Ready>(
        timeline(now - 20 * kSec + s * kSec, "tv-1", "100", "playing", s * kSec, 600 * kSec))));
  writer.flush();
  Insights insights(store);
  insights.update();
  std::string json = insights.now_playing_json();
  EXPECT_NE(json.find(R"("client_id":"tv-1")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("state":"playing","position_ms":20000)"), std::string::npos) << json;
  insights.finish();
  EXPECT_EQ(insights.now_playing_json(), R"({"sessions":[]})");
}

}  // namespace
}  // namespace plextap::analytics
