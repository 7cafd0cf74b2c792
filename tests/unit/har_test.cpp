// HAR export: a store's exchanges come out as HTTP Archive 1.2 entries: URL with the
// scheme the client used and the token still redacted, decoded bodies as text, binary
// bodies as base64, kind and client filters applied.
#include "analytics/har_writer.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "capture/event.hpp"
#include "store/writer.hpp"
#include "tests/unit/gzip.hpp"

namespace plextap::capture {
namespace {

class Built final : public store::Pending {
 public:
  explicit Built(CapturedExchange c) : c_(std::move(c)) {}
  bool build(store::Record& out) override {
    out = build_record(std::move(c_));
    return true;
  }

 private:
  CapturedExchange c_;
};

using plextap::testing::gzip;
using analytics::export_har;
using analytics::ExportOptions;

CapturedExchange exchange(std::optional<Route> route, std::string target, bool tls,
                          std::vector<std::pair<std::string, std::string>> response_headers,
                          std::string body, std::string client) {
  CapturedExchange c;
  c.route = route;
  c.exchange.ts_ms = 1'732'449'600'000;
  c.exchange.method = "GET";
  c.exchange.target = std::move(target);
  c.exchange.tls = tls;
  c.exchange.status = 200;
  c.exchange.request_headers = {{"Host", "plex.local:32443"}, {"X-Plex-Client-Identifier", client}};
  c.exchange.response_headers = std::move(response_headers);
  c.exchange.response_body = std::move(body);
  return c;
}

TEST(HarExport, EntriesCarryUrlsBodiesAndFilters) {
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() / ("plextap-har-" + std::to_string(rd()));
  {
    store::Store store(dir, false);
    store::Writer writer(store, {});
    writer.submit(std::make_unique<Built>(exchange(
        Route{Kind::timeline, {}}, "/:/timeline?ratingKey=7&state=playing&X-Plex-Token=REDACTED",
        true, {{"Content-Type", "text/xml"}, {"Content-Encoding", "gzip"}},
        gzip("<MediaContainer size=\"0\"/>"), "web")));
    writer.submit(std::make_unique<Built>(exchange(std::nullopt, "/library/parts/1/thumb", false,
                                                   {{"Content-Type", "image/jpeg"}},
                                                   std::string("\xff\xd8\xff\x00\x01", 5), "tv")));
    writer.flush();
  }
  store::Store store(dir, true);
  auto run = [&](ExportOptions options) {
    std::FILE* f = std::tmpfile();
    export_har(store, options, f);
    std::rewind(f);
    std::string text;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    std::fclose(f);
    return text;
  };
  std::string all = run(ExportOptions{});
  simdjson::dom::parser parser;
  auto doc = parser.parse(all);
  ASSERT_FALSE(doc.error()) << all;
  EXPECT_EQ(std::string_view(doc["log"]["version"].get_string().value()), "1.2");
  auto entries = doc["log"]["entries"].get_array().value();
  ASSERT_EQ(entries.size(), 2u);
  auto first = entries.at(0).value();
  EXPECT_EQ(std::string_view(first["request"]["url"].get_string().value()),
            "https://plex.local:32443/:/timeline?ratingKey=7&state=playing&X-Plex-Token=REDACTED");
  EXPECT_EQ(std::string_view(first["response"]["content"]["text"].get_string().value()),
            "<MediaContainer size=\"0\"/>");  // decoded from gzip
  auto second = entries.at(1).value();
  EXPECT_EQ(std::string_view(second["request"]["url"].get_string().value()),
            "http://plex.local:32443/library/parts/1/thumb");
  EXPECT_EQ(std::string_view(second["response"]["content"]["encoding"].get_string().value()),
            "base64");
  EXPECT_EQ(std::string_view(second["response"]["content"]["text"].get_string().value()),
            "/9j/AAE=");

  ExportOptions only_timeline;
  only_timeline.kind = "timeline";
  EXPECT_EQ(parser.parse(run(only_timeline))["log"]["entries"].get_array().value().size(), 1u);
  ExportOptions only_tv;
  only_tv.client = "tv";
  auto tv = parser.parse(run(only_tv));
  ASSERT_EQ(tv["log"]["entries"].get_array().value().size(), 1u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plextap::capture
