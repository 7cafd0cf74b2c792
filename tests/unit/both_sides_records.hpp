// Stored events of both sides of a play, as the tests build them: a client timeline as the
// proxy records it (capture::build_record), and the server's `playing` notification and
// session snapshot as the server watch stores them (capture::build_server_record).
#pragma once

#include <cstdint>
#include <string>

#include "capture/classify.hpp"
#include "capture/event.hpp"
#include "store/store.hpp"

namespace plextap::test_support {

// A client timeline as the proxy records it.
inline store::Record timeline(std::int64_t ts, const std::string& client, const std::string& rk,
                              const std::string& state, std::int64_t pos, std::int64_t duration,
                              const std::string& pqi = "7") {
  std::string target = "/:/timeline?ratingKey=" + rk + "&key=%2Flibrary%2Fmetadata%2F" + rk +
                       "&state=" + state + "&time=" + std::to_string(pos) +
                       "&duration=" + std::to_string(duration) + "&playQueueItemID=" + pqi;
  capture::CapturedExchange c;
  c.route = capture::classify("POST", target);
  c.exchange.ts_ms = ts;
  c.exchange.method = "POST";
  c.exchange.target = target;
  c.exchange.status = 200;
  c.exchange.remote_addr = "192.0.2.7";
  c.exchange.request_headers = {{"X-Plex-Client-Identifier", client},
                                {"X-Plex-Product", "Plex Web"},
                                {"X-Plex-Device-Name", "Chrome"}};
  return capture::build_record(std::move(c));
}

inline capture::ServerEvent server_event(capture::Kind kind, std::int64_t ts,
                                         const std::string& client, const std::string& rk) {
  capture::ServerEvent e;
  e.kind = kind;
  e.ts_ms = ts;
  e.client.id = client;
  e.client.product = "Plex for LG";
  e.client.device_name = "Living Room";
  e.rating_key = rk;
  return e;
}

// A `playing` notification of the server.
inline store::Record notification(std::int64_t ts, const std::string& client, const std::string& rk,
                                  const std::string& state, std::int64_t pos,
                                  const std::string& pqi = "7") {
  auto e = server_event(capture::Kind::notification, ts, client, rk);
  e.op = "playing";
  e.fields = R"("type":"playing","session_key":"45","key":"/library/metadata/)" + rk +
             R"(","state":")" + state + R"(","time_ms":)" + std::to_string(pos) +
             R"(,"play_queue_item_id":)" + (pqi.empty() ? "null" : pqi) +
             R"(,"transcode_session":null)";
  return capture::build_server_record(e);
}

struct Snap {
  std::int64_t bandwidth = 4000;
  int account_id = 1;
  std::string name = "Ann";
  std::string address = "10.0.0.5";
  std::string location = "lan";
};

// A /status/sessions snapshot of one session.
inline store::Record snapshot(std::int64_t ts, const std::string& client, const std::string& rk,
                              const std::string& state, std::int64_t pos, std::int64_t duration,
                              const Snap& s = {}) {
  auto e = server_event(capture::Kind::session, ts, client, rk);
  e.op = "snapshot";
  e.client_more = R"("address":")" + s.address +
                  R"(","public_address":"198.51.100.4","local":true,"relayed":false,"secure":true)";
  e.user_more = R"("account_id":)" + std::to_string(s.account_id) + R"(,"name":")" + s.name + '"';
  e.fields = R"("session_key":"45","session_id":"abc","state":")" + state + R"(","time_ms":)" +
             std::to_string(pos) + R"(,"duration_ms":)" + std::to_string(duration) +
             R"(,"bandwidth_kbps":)" + std::to_string(s.bandwidth) + R"(,"location":")" +
             s.location +
             R"(","chosen_media_id":"1","video_resolution":"1080","hdr":false,)"
             R"("video_decision":"directplay","audio_decision":"directplay","speed":null,)"
             R"("throttled":false,"hw_decode":false,"hw_encode":false)";
  return capture::build_server_record(e);
}

}  // namespace plextap::test_support
