// The records of the fixture store tests/fixtures/store-v1 (schema version 1), written by
// make_store_fixture and read back by the upgrade tests: what a store of that version
// holds must read back, unchanged, in every later plextap.
#pragma once

#include <string>
#include <vector>

#include "capture/exchange.hpp"
#include "store/store.hpp"

namespace plextap::test_support {

inline constexpr std::int64_t kFixtureStart = 1'764'600'000'000;  // 2025-12-01T14:40:00Z

// Events of every recorded shape (with and without rating key and exchange), then a media
// entry and an account.
inline std::vector<store::Record> fixture_records() {
  std::vector<store::Record> out;
  auto event = [&](std::uint8_t kind, std::int64_t at, std::string rating_key, std::string json,
                   bool exchange) {
    store::Record r;
    r.kind = kind;
    r.ts_ms = kFixtureStart + at;
    r.rating_key = std::move(rating_key);
    r.json = std::move(json);
    if (exchange) {
      capture::Exchange e;
      e.ts_ms = r.ts_ms;
      e.status = 200;
      e.remote_addr = "192.168.1.20";
      e.method = "POST";
      e.target = "/:/timeline?ratingKey=" + r.rating_key + "&X-Plex-Token=REDACTED";
      e.response_body = "<MediaContainer size=\"0\"/>";
      r.exchange = capture::encode_exchange(e);
    }
    out.push_back(std::move(r));
  };
  const std::string client =
      R"("client":{"id":"client-1","product":"Plex Web","version":"4.118.0","platform":"Chrome","platform_version":"120.0","device":"Linux","device_name":"Chrome","device_vendor":null,"model":"hosted","session":"0123456789abcdef"},"user":{"token_fp":"0123456789abcdef"},"remote_addr":"192.168.1.20")";
  for (int i = 0; i < 4; ++i) {
    const std::string t = std::to_string(i * 10'000);
    event(
        0, i * 10'000, "1001",
        R"({"ts":"2025-12-01T14:40:)" + std::to_string(10 + i * 10) +
            R"(.000Z","kind":"timeline","op":null,"method":"POST","path":"/:/timeline","params":{"ratingKey":"1001","state":"playing","time":")" +
            t + R"("},"status":200,"latency_ms":1.5,)" + client +
            R"(,"rating_key":"1001","state":"playing","time_ms":)" + t +
            R"(,"duration_ms":7200000,"play_queue_item_id":4711,"key":"/library/metadata/1001","termination_code":null,"termination_text":null,"media":null})",
        true);
  }
  event(
      1, 50'000, "1001",
      R"({"ts":"2025-12-01T14:40:50.000Z","kind":"scrobble","op":null,"method":"GET","path":"/:/scrobble","params":{"key":"1001"},"status":200,"latency_ms":2.0,)" +
          client + R"(,"rating_key":"1001"})",
      false);
  event(
      7, 60'000, "",
      R"({"ts":"2025-12-01T14:41:00.000Z","kind":"search","op":null,"method":"GET","path":"/hubs/search","params":{"query":"caf\u00e9"},"status":200,"latency_ms":3.0,)" +
          client + R"(,"query":"café","results":[]})",
      true);
  store::Record media;
  media.table = store::Record::Table::media;
  media.rating_key = "1001";
  media.json = R"({"rating_key":"1001","title":"Fixture","type":"movie","duration_ms":7200000})";
  out.push_back(media);
  store::Record account;
  account.table = store::Record::Table::accounts;
  account.rating_key = "client-1";
  account.json = R"({"account_id":1,"name":"owner"})";
  out.push_back(account);
  return out;
}

}  // namespace plextap::test_support
