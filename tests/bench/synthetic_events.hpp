// Synthetic events the size and shape of real ones, shared by the store benchmarks.
#pragma once

#include <string>

#include "store/store.hpp"
#include "store/writer.hpp"

namespace plextap::bench {

class Ready final : public store::Pending {
 public:
  explicit Ready(store::Record r) : r_(std::move(r)) {}
  bool build(store::Record& out) override {
    out = std::move(r_);
    return true;
  }

 private:
  store::Record r_;
};

// A timeline event as the recorder writes it (~900 bytes of JSON, 400 of exchange).
// Seven clients take turns; each plays an item for 100 updates, then the next one.
inline store::Record timeline_record(std::int64_t ts, int i) {
  store::Record r;
  r.kind = 0;
  r.ts_ms = ts;
  r.rating_key = std::to_string(1000 + (i / 700) % 500);
  const std::string t = std::to_string((i / 7) % 100 * 10000);
  r.json =
      R"({"ts":"2026-11-24T12:00:00.000Z","kind":"timeline","op":null,"method":"POST","path":"/:/timeline","params":{"ratingKey":")" +
      r.rating_key + R"(","key":"/library/metadata/)" + r.rating_key +
      R"(","state":"playing","time":")" + t +
      R"(","duration":"7200000","playQueueItemID":"4711","identifier":"com.plexapp.plugins.library"},"status":200,"latency_ms":1.234,"client":{"id":"client-)" +
      std::to_string(i % 7) +
      R"(","product":"Plex Web","version":"4.118.0","platform":"Chrome","platform_version":"120.0","device":"Linux","device_name":"Chrome","device_vendor":null,"model":"hosted","session":"0123456789abcdef"},"user":{"token_fp":"0123456789abcdef"},"remote_addr":"192.168.1.20","rating_key":")" +
      r.rating_key + R"(","state":"playing","time_ms":)" + t +
      R"(,"duration_ms":7200000,"play_queue_item_id":4711,"key":"/library/metadata/)" +
      r.rating_key + R"(","termination_code":null,"termination_text":null,"media":null})";
  r.exchange.assign(400, 'e');
  return r;
}

}  // namespace plextap::bench
