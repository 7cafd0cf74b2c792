// The sink's tables and COPY rows (sink/tables.hpp, sink/copy_rows.hpp): columns made from
// the export schemas, and values that must reach PostgreSQL intact or as NULL, never as a
// row that fails the batch.
#include <gtest/gtest.h>

#include "sink/copy_rows.hpp"
#include "sink/tables.hpp"

namespace plextap::sink {
namespace {

const Column& column(const Table& t, std::string_view name) {
  for (const Column& c : t.columns)
    if (c.name == name) return c;
  throw std::invalid_argument("no column " + std::string(name));
}

// The cells of the one row in `rows`, split at tabs.
std::vector<std::string> cells(const CopyRows& rows) {
  std::vector<std::string> out(1);
  std::string_view data = rows.data();
  EXPECT_TRUE(data.ends_with('\n'));
  for (char c : data.substr(0, data.size() - 1)) {
    if (c == '\t')
      out.emplace_back();
    else
      out.back() += c;
  }
  return out;
}

std::string cell(const Table& t, const std::vector<std::string>& row, std::string_view name) {
  const std::size_t lead = t.derived ? 2 : 1;
  for (std::size_t i = 0; i < t.columns.size(); ++i)
    if (t.columns[i].name == name) return row.at(lead + i);
  throw std::invalid_argument("no column " + std::string(name));
}

TEST(SinkTables, ColumnsAreTheExportsFlattenedAndTyped) {
  const Table& plays = table_named("plays");
  EXPECT_TRUE(plays.derived);
  EXPECT_EQ(column(plays, "started_at").type, SqlType::timestamptz);
  EXPECT_EQ(column(plays, "watched_ms").type, SqlType::bigint);
  EXPECT_EQ(column(plays, "completion").type, SqlType::float8);
  EXPECT_EQ(column(plays, "intro_skipped").type, SqlType::boolean);
  EXPECT_EQ(column(plays, "media_genres").type, SqlType::jsonb);
  EXPECT_EQ(column(plays, "play_queue_item_id").type, SqlType::text) << "number or string";
  EXPECT_EQ(column(plays, "media_grandparent_title").path,
            (std::vector<std::string>{"media", "grandparent_title"}));
  const Table& decisions = table_named("decisions");
  EXPECT_EQ(column(decisions, "media_index").path, std::vector<std::string>{"media_index"});
  EXPECT_EQ(column(decisions, "media.index").path, (std::vector<std::string>{"media", "index"}));
  EXPECT_EQ(column(table_named("searches"), "id").type, SqlType::bigint);
  EXPECT_EQ(column(table_named("searches"), "params").type, SqlType::jsonb);
  EXPECT_EQ(table_named("events").columns.back().name, "record");
  EXPECT_EQ(table_of_kind(0), &table_named("timeline"));
  const std::string sql = schema_sql();
  for (const Table& t : tables())
    EXPECT_NE(sql.find("CREATE TABLE IF NOT EXISTS \"" + t.name + "\""), std::string::npos);
  EXPECT_EQ(missing_columns_sql({}).find("ALTER TABLE \"events\" ADD COLUMN IF NOT EXISTS \"id\""),
            0u);
}

TEST(SinkRows, ValuesAreEscapedTypedOrNull) {
  const Table& events = table_named("events");
  const Table& timeline = table_named("timeline");
  CopyRows all(events, "srv\t1"), own(timeline, "srv\t1");
  RowEncoder encoder;
  const std::string record =
      R"({"id":"111411200000000007","ts":"2026-11-24T12:00:00.000Z","kind":"timeline",)"
      R"("op":null,"params":{"q":"a\tb\\c\u0000d"},"status":"n/a","latency_ms":1.5,)"
      R"("client":{"id":"tv\nline"},"user":{"token_fp":"ab","account_id":12,"name":null},)"
      R"("rating_key":"42","state":"playing","time_ms":1000,"duration_ms":2.5e3,)"
      R"("media":{"last_viewed_at":"not a time","genres":["Drama"]}})";
  ASSERT_TRUE(encoder.add(record, {&all, &own}));
  EXPECT_FALSE(encoder.add("[1,2]", {&all}));
  EXPECT_EQ(all.rows(), 1u);

  const auto row = cells(all);
  ASSERT_EQ(row.size(), events.columns.size() + 1);
  EXPECT_EQ(row[0], "srv\\t1");
  EXPECT_EQ(cell(events, row, "id"), "111411200000000007");
  EXPECT_EQ(cell(events, row, "ts"), "2026-11-24T12:00:00.000Z");
  EXPECT_EQ(cell(events, row, "op"), "\\N");
  EXPECT_EQ(cell(events, row, "client_id"), "tv\\nline");
  EXPECT_EQ(cell(events, row, "user_account_id"), "12") << "a number in a text column";
  EXPECT_EQ(cell(events, row, "user_name"), "\\N");
  EXPECT_EQ(cell(events, row, "status"), "\\N") << "a string where a number belongs";
  EXPECT_EQ(cell(events, row, "latency_ms"), "1.5");
  // The whole record, its \u0000 (which jsonb refuses) replaced, backslashes doubled for COPY.
  const std::string whole = cell(events, row, "record");
  EXPECT_EQ(whole.find("u0000"), std::string::npos);
  EXPECT_NE(whole.find(R"(a\\tb\\\\c\\ufffdd)"), std::string::npos) << whole;

  const auto own_row = cells(own);
  EXPECT_EQ(cell(timeline, own_row, "params"), R"({"q":"a\\tb\\\\c\\ufffdd"})");
  EXPECT_EQ(cell(timeline, own_row, "duration_ms"), "2500.0");
  EXPECT_EQ(cell(timeline, own_row, "media_last_viewed_at"), "\\N") << "not a time";
  EXPECT_EQ(cell(timeline, own_row, "media_genres"), R"(["Drama"])");
}

TEST(SinkRows, DerivedRowsCarryTheirNaturalId) {
  const Table& plays = table_named("plays");
  CopyRows rows(plays, "srv");
  RowEncoder encoder;
  const std::string play = R"({"client_id":"tv","started_at":"2026-11-24T12:00:00.000Z"})";
  ASSERT_TRUE(encoder.add(play, {&rows}));
  EXPECT_EQ(cells(rows).at(1), "tv 2026-11-24T12:00:00.000Z");
  EXPECT_EQ(encoder.row_key(plays, play), "tv 2026-11-24T12:00:00.000Z");
  EXPECT_EQ(encoder.row_key(table_named("media"), R"({"rating_key":"42"})"), "42");
}

}  // namespace
}  // namespace plextap::sink
