// `plextap sink` and `serve --sink` against a real PostgreSQL (pg_cluster.hpp): the story
// of two clients replicated into every table with the values of the exports, exactly once
// through a kill -9, a database that goes away, two servers into one database, the errors
// of a bad URL or password, and the sink inside serve with its metrics.
#include <fstream>
#include <sstream>

#include "sink/tables.hpp"
#include "tests/integration/pg_cluster.hpp"
#include "tests/integration/recording_story.hpp"

namespace plextap::itest {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kServerId = "sink-story-server";

std::string sql_text(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// `x.line` at the column's place, as the column's type: what the column must hold.
std::string expected_value(const sink::Column& c) {
  if (c.path.empty()) return "x.line";
  std::string path = "'{";
  for (std::size_t i = 0; i < c.path.size(); ++i) path += (i ? "," : "") + c.path[i];
  path += "}'";
  if (c.type == sink::SqlType::jsonb) return "nullif(x.line #> " + path + ", 'null'::jsonb)";
  return "(x.line #>> " + path + ")::" + std::string(sink::sql_name(c.type));
}

class SinkTest : public RecordingTest {
 protected:
  void SetUp() override {
    Canned identity = canned("application/xml",
                             R"(<MediaContainer size="0" machineIdentifier=")" +
                                 std::string(kServerId) + R"(" version="1.41.3"/>)");
    upstream.answer("/identity", identity);
    serve_plex_fixtures();
  }

  // Both clients' story through serve; then serve ends, so that the store is final.
  void record_story_and_stop(const std::vector<std::string>& flags = {}) {
    start(flags);
    {
      auto c = http();
      ASSERT_EQ(play_story(*c, kTv), kStoryLength);
      ASSERT_EQ(play_story(*c, kWeb), kStoryLength);
    }
    ASSERT_EQ(await_export("events", 2 * kStoryLength).size(), 2 * kStoryLength);
    // Enrichment (with the clients' token) asks the stand-in, which has no metadata: the
    // media table gets its answers.
    if (std::find(flags.begin(), flags.end(), "--no-enrich") == flags.end())
      wait_until([&] { return !export_lines("media").empty() || HasFailure(); }, 10s, 100ms);
    std::this_thread::sleep_for(300ms);
    proxy->signal(SIGTERM);
    ASSERT_EQ(proxy->wait_exit(15s), 0) << proxy->stderr_text();
  }

  CliResult sink(const std::string& url, std::vector<std::string> extra = {},
                 const std::filesystem::path& data = {}) {
    std::vector<std::string> args{"sink", url, "--data", (data.empty() ? data_dir() : data).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_plextap(args, 60s);
  }

  std::string export_text(const std::string& kind, const std::filesystem::path& data = {}) {
    auto r = run_plextap({"export", kind, "--data", (data.empty() ? data_dir() : data).string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  static std::size_t lines_in(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  }

  // Every record `plextap export KIND` writes has one row of the kind's table, of server
  // `server`, equal in each column; and the table has no other row of that server.
  void expect_table_is_export(const sink::Table& t, const std::string& db,
                              const std::string& server, const std::filesystem::path& data = {}) {
    SCOPED_TRACE("table " + t.name);
    const std::string text = export_text(t.name, data);
    const std::string expected = "expected_" + t.name + "_" + std::to_string(++loads_);
    pg.load_lines(expected, text, db);
    std::string same = "t.server_id = " + sql_text(server);
    for (const sink::Column& c : t.columns)
      same += " AND t." + sink::identifier(c.name) + " IS NOT DISTINCT FROM " + expected_value(c);
    const std::string table = sink::identifier(t.name);
    EXPECT_EQ(pg.value("SELECT count(*) FROM " + table + " WHERE server_id = " +
                           sql_text(server), db),
              std::to_string(lines_in(text)));
    const std::string missing = pg.sql("SELECT x.line FROM " + expected + " x WHERE NOT EXISTS (SELECT 1 FROM " +
                                           table + " t WHERE " + same + ")",
                                       db);
    EXPECT_EQ(missing, "") << "export records without an equal row";
  }

  PgCluster pg;
  int loads_ = 0;
};

TEST_F(SinkTest, StoryAppearsInEveryTableWithTheValuesOfTheExports) {
  ASSERT_NO_FATAL_FAILURE(record_story_and_stop({"--plex-token", "sink-token", "--no-server-watch"}));
  pg.create_database("story");
  auto r = sink(pg.uri("story"), {"--once"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const sink::Table& t : sink::tables()) expect_table_is_export(t, "story", std::string(kServerId));
  // What the story holds shows in the tables, not only as two empty sides alike.
  for (const char* table : {"events", "timeline", "queues", "decisions", "searches", "scrobbles",
                            "ratings", "plays", "runs", "queue_outcomes", "clients", "media"})
    EXPECT_NE(pg.value(std::string("SELECT count(*) FROM ") + table, "story"), "0") << table;
  const auto searches = export_lines("searches");
  EXPECT_EQ(pg.value("SELECT count(*) FROM searches WHERE played", "story"),
            std::to_string(std::count_if(searches.begin(), searches.end(), [](const JsonLine& s) {
              return s.json("/played") == "true";
            })));
  EXPECT_EQ(pg.value("SELECT last_id::text || ' ' || events FROM sink_progress", "story"),
            export_lines("events").back().str("/id") + " " + std::to_string(2 * kStoryLength));

  // Run again: nothing more, nothing twice.
  r = sink(pg.uri("story"), {"--once"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(pg.value("SELECT count(*) FROM events", "story"), std::to_string(2 * kStoryLength));
  expect_table_is_export(sink::table_named("plays"), "story", std::string(kServerId));

  // The README's SQL for each analytics question runs on what the sink wrote.
  std::string readme = read_file(std::filesystem::path(PLEXTAP_SOURCE_DIR) / "README.md");
  const auto section = readme.find("\n## PostgreSQL");
  ASSERT_NE(section, std::string::npos);
  readme = readme.substr(section, readme.find("\n## ", section + 1) - section);
  std::size_t queries = 0;
  for (auto at = readme.find("```sql\n"); at != std::string::npos;
       at = readme.find("```sql\n", at + 1)) {
    const auto begin = at + 7, end = readme.find("```", begin);
    const std::string query = readme.substr(begin, end - begin);
    SCOPED_TRACE(query);
    EXPECT_NO_THROW(pg.sql(query, "story"));
    ++queries;
  }
  EXPECT_GE(queries, 6u) << "one per analytics question";
}

// Timeline requests of one client, one after the other, until stopped: a stream of events.
class TimelineStream {
 public:
  explicit TimelineStream(std::uint16_t port)
      : thread_([this, port] {
          auto c = HttpClient::plain(port, 10s);
          for (int i = 0; !stop_; ++i) {
            auto req = c->request(http::verb::get,
                                  "/:/timeline?ratingKey=151671&state=playing&time=" +
                                      std::to_string(i * 1000) + "&duration=634533");
            req.set("X-Plex-Client-Identifier", "stream-client");
            req.set("X-Plex-Token", "stream-token");
            if (c->send(std::move(req)).result_int() == 200) ++sent_;
            std::this_thread::sleep_for(5ms);
          }
        }) {}
  ~TimelineStream() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int sent() const { return sent_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0};
  std::thread thread_;
};

TEST_F(SinkTest, KilledMidStreamResumesWithoutLossOrDuplicate) {
  start({"--no-enrich", "--no-server-watch", "--plex-token", "sink-token"});
  pg.create_database("kill");
  TimelineStream stream(proxy->http_port());
  std::optional<BackgroundPlextap> sink_process;
  sink_process.emplace(std::vector<std::string>{"sink", pg.conninfo("kill"), "--data",
                                                data_dir().string(), "--batch", "10"});
  auto replicated = [&] {
    try {
      return std::stoi(pg.value("SELECT coalesce(sum(events), 0) FROM sink_progress", "kill"));
    } catch (const std::exception&) {
      return 0;  // the tables are not there yet
    }
  };
  ASSERT_TRUE(wait_until([&] { return replicated() >= 30; }, 20s, 20ms))
      << sink_process->stderr_text();
  sink_process->signal(SIGKILL);
  ASSERT_EQ(sink_process->wait_exit(5s), 128 + SIGKILL);
  const int at_kill = replicated();
  std::this_thread::sleep_for(500ms);  // events the dead sink never saw
  stream.stop();
  ASSERT_GT(export_lines("events").size(), static_cast<std::size_t>(at_kill)) << "mid-stream";

  auto r = sink(pg.conninfo("kill"), {"--once"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto events = export_lines("events");
  EXPECT_EQ(pg.value("SELECT count(*) || ' ' || count(DISTINCT id) FROM events", "kill"),
            std::to_string(events.size()) + " " + std::to_string(events.size()));
  EXPECT_EQ(pg.value("SELECT count(*) FROM timeline", "kill"), std::to_string(events.size()));
  expect_table_is_export(sink::table_named("events"), "kill", std::string(kServerId));
}

TEST_F(SinkTest, DatabaseStoppedAndStartedMidRunCatchesUp) {
  start({"--no-enrich", "--no-server-watch", "--plex-token", "sink-token"});
  pg.create_database("away");
  TimelineStream stream(proxy->http_port());
  BackgroundPlextap sink_process(
      {"sink", pg.uri("away"), "--data", data_dir().string(), "--batch", "50"});
  auto replicated = [&] {
    try {
      return std::stoul(pg.value("SELECT count(*) FROM events", "away"));
    } catch (const std::exception&) {
      return 0ul;
    }
  };
  ASSERT_TRUE(wait_until([&] { return replicated() > 0; }, 20s, 50ms)) << sink_process.stderr_text();
  pg.stop();
  std::this_thread::sleep_for(1500ms);  // recording goes on while the database is away
  pg.start();
  std::this_thread::sleep_for(500ms);
  stream.stop();
  const std::size_t recorded = export_lines("events").size();
  EXPECT_TRUE(wait_until([&] { return replicated() == recorded; }, 30s, 100ms))
      << replicated() << " of " << recorded << "\n" << sink_process.stderr_text();
  EXPECT_EQ(pg.value("SELECT count(DISTINCT id) FROM events", "away"), std::to_string(recorded));
  EXPECT_TRUE(contains(sink_process.stderr_text(), "trying again"));
  EXPECT_FALSE(contains(sink_process.stderr_text(), PgCluster::kPassword));
  EXPECT_FALSE(sink_process.wait_exit(0ms)) << "the sink outlives the database's absence";
}

TEST_F(SinkTest, TwoServersFeedOneDatabase) {
  ASSERT_NO_FATAL_FAILURE(record_story_and_stop({"--no-enrich", "--no-server-watch", "--plex-token", "sink-token"}));
  // A second store, of a second server: the web client alone.
  PlextapProcess second(upstream.port(), {"--no-enrich", "--no-server-watch", "--plex-token", "sink-token"});
  {
    auto c = HttpClient::plain(second.http_port(), 10s);
    ASSERT_EQ(play_story(*c, kWeb), kStoryLength);
  }
  const auto second_data = second.dir() / "data";
  ASSERT_TRUE(wait_until([&] { return lines_in(export_text("events", second_data)) == kStoryLength; },
                         5s, 50ms));
  second.signal(SIGTERM);
  ASSERT_EQ(second.wait_exit(15s), 0);

  pg.create_database("two");
  auto r = sink(pg.uri("two"), {"--once"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = sink(pg.uri("two"), {"--once", "--server-id", "second-server"}, second_data);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  EXPECT_EQ(pg.sql("SELECT server_id, events FROM sink_progress ORDER BY 1", "two"),
            "second-server|" + std::to_string(kStoryLength) + "\n" + std::string(kServerId) + "|" +
                std::to_string(2 * kStoryLength) + "\n");
  for (const char* table : {"events", "plays", "clients", "queue_outcomes"}) {
    expect_table_is_export(sink::table_named(table), "two", std::string(kServerId));
    expect_table_is_export(sink::table_named(table), "two", "second-server", second_data);
  }

  // --since leaves the older events out of a database that has none yet.
  const auto events = export_lines("events");
  const std::string since = events[kStoryLength].str("/ts");
  const auto later = std::count_if(events.begin(), events.end(),
                                   [&](const JsonLine& e) { return e.str("/ts") >= since; });
  pg.create_database("later");
  r = sink(pg.uri("later"), {"--once", "--since", since});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(pg.value("SELECT count(*) FROM events", "later"), std::to_string(later));
  EXPECT_EQ(pg.value("SELECT count(*) FROM events WHERE ts < " + sql_text(since), "later"), "0");
}

TEST_F(SinkTest, BadUrlPasswordOrServerIdIsOneLineAndExitOne) {
  ASSERT_NO_FATAL_FAILURE(record_story_and_stop({"--no-enrich", "--no-server-watch", "--plex-token", "sink-token"}));
  auto one_line = [](const CliResult& r) {
    return std::count(r.err.begin(), r.err.end(), '\n') == 1 && r.err.starts_with("plextap sink: ");
  };
  auto r = sink("host=127.0.0.1 nonsense");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(one_line(r)) << r.err;

  r = sink(pg.uri("postgres", "wrong-Pw-42"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(one_line(r)) << r.err;
  EXPECT_TRUE(contains(r.err, "password authentication failed")) << r.err;
  EXPECT_FALSE(contains(r.err, "wrong-Pw-42")) << r.err;

  r = sink(pg.conninfo("postgres", "wrong-Pw-42"), {"--init"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(one_line(r)) << r.err;
  EXPECT_FALSE(contains(r.err, "wrong-Pw-42")) << r.err;

  // The password from PGPASSWORD, as libpq reads it: --init prints and applies the schema.
  ::setenv("PGPASSWORD", PgCluster::kPassword, 1);
  r = sink(pg.conninfo("postgres", ""), {"--init"});
  ::unsetenv("PGPASSWORD");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "CREATE TABLE IF NOT EXISTS \"plays\"")) << r.out;
  EXPECT_EQ(pg.value("SELECT max(version) FROM sink_schema"), std::to_string(sink::kSchemaVersion));

  // A store whose server never said who it is, and no --server-id.
  StandInUpstream anonymous;
  PlextapProcess other(anonymous.port(), {"--no-enrich", "--no-server-watch", "--plex-token", "sink-token"});
  other.signal(SIGTERM);
  ASSERT_EQ(other.wait_exit(15s), 0);
  r = sink(pg.conninfo(), {}, other.dir() / "data");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(one_line(r)) << r.err;
  EXPECT_TRUE(contains(r.err, "--server-id")) << r.err;
}

TEST_F(SinkTest, ServeRunsTheSinkAndShowsItsLag) {
  pg.create_database("live");
  start({"--no-enrich", "--no-server-watch", "--sink", pg.uri("live")});
  {
    auto c = http();
    ASSERT_EQ(play_story(*c, kTv), kStoryLength);
  }
  ASSERT_EQ(await_export("events", kStoryLength).size(), kStoryLength);
  std::string m;
  EXPECT_TRUE(wait_until(
      [&] {
        m = metrics();
        return contains(m, "plextap_sink_rows_total " + std::to_string(kStoryLength) + "\n") ||
               HasFailure();
      },
      20s, 100ms))
      << m << proxy->stderr_text();
  EXPECT_TRUE(contains(m, "plextap_sink_lag_seconds 0.000")) << m;
  EXPECT_TRUE(contains(m, "plextap_sink_connected 1\n")) << m;
  EXPECT_TRUE(contains(m, "plextap_sink_errors_total 0\n")) << m;
  EXPECT_EQ(pg.value("SELECT count(*) || ' ' || min(server_id) FROM events", "live"),
            std::to_string(kStoryLength) + " " + std::string(kServerId));
  // The derived rows follow within seconds: the client, its queue.
  EXPECT_TRUE(wait_until([&] { return pg.value("SELECT count(*) FROM clients", "live") == "1"; },
                         15s, 200ms));
  EXPECT_FALSE(contains(proxy->stderr_text(), PgCluster::kPassword));

  // The database goes away: serve goes on forwarding, the sink says so.
  pg.stop();
  auto c = http();
  EXPECT_EQ(c->send(c->request(http::verb::get, "/small?alive")).result_int(), 200);
  EXPECT_TRUE(wait_until([&] { return contains(metrics(), "plextap_sink_connected 0\n"); }, 15s,
                         100ms));
}

}  // namespace
}  // namespace plextap::itest
