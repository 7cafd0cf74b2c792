// Turns a captured exchange into the stored event record: the fields every event has
// (DESIGN section 5) plus the fields of its kind. A pure function, run on the writer's
// thread, so that the I/O threads never decompress, scan for tokens or parse. It redacts
// the exchange (redact_exchange) before anything else reads it.
//
// The stored JSON is also *read* here, and only here: the exports find a record's client,
// rating key and user object by their place in the text (fast, no parse), and play
// reconstruction reads the fields it needs with EventReader. The field order they rely on:
//   {"ts","kind","op","method","path","params":{…},"status","latency_ms",
//    "client":{"id",…},"user":{"token_fp"[,"account_id","name"]},"remote_addr","rating_key",
//    <kind fields>,["parse_error"],["truncated"],"source","media":null}
// (`params` holds what the client sent, so nothing is looked up before `client`). `source`
// is "proxy" for a request that passed through plextap, "server" for what the server said
// of itself (build_server_record); records written before it existed have none: proxy.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/classify.hpp"
#include "capture/client_info.hpp"
#include "capture/exchange.hpp"
#include "store/store.hpp"

namespace plextap::capture {

struct CapturedExchange {
  std::optional<Route> route;  // null: kind `other` (--record all)
  Exchange exchange;           // secret headers fingerprinted; the rest redacted by build_record
  std::string token_fp;        // empty when the request carried no token
  bool complete = true;        // false when either side broke off
};

// Record flags (store::Record::flags).
inline constexpr std::uint8_t kFlagParseError = 1;
inline constexpr std::uint8_t kFlagTruncated = 2;
inline constexpr std::uint8_t kFlagIncomplete = 4;

store::Record build_record(CapturedExchange captured);

// An event of the server's side (DESIGN section 10), built from what the server said rather
// than from an exchange. Its record has the leading fields of every event (method, path,
// status and latency null, params empty: no request passed), so the readers below and
// every export read it alike.
struct ServerEvent {
  Kind kind = Kind::notification;
  std::int64_t ts_ms = 0;
  std::string op;           // e.g. the notification type; empty: null
  ClientInfo client;        // what the server says of the player
  std::string client_more;  // more members of `client`, JSON without braces ("address":"…",…)
  std::string user_more;    // members of `user` after token_fp ("account_id":1,"name":"…")
  std::string rating_key;   // empty: null
  std::string fields;       // the kind's fields: JSON object members without braces
};
store::Record build_server_record(const ServerEvent& event);

enum class EventSource : std::uint8_t { proxy, server };
std::string_view to_string(EventSource source);
// Where a stored event came from (records older than `source` came through the proxy).
EventSource stored_source(std::string_view json);

// Every stored event ends with this; exports put the joined media object in its place.
inline constexpr std::string_view kStoredMediaTail = "\"media\":null}";

// The JSON text that starts the client object of a stored event from `client_id`: a record
// contains it exactly when it is that client's.
std::string stored_client_prefix(std::string_view client_id);
// Where the fields exports join at are in a stored event, found in one pass.
struct StoredPlaces {
  std::string_view client_id;                     // "" when none
  std::string_view rating_key;                    // "" when none
  std::size_t user_end = std::string_view::npos;  // the brace that closes `user`
  bool user_named = false;  // `user` names an account already (a server event's, of its moment)
};
StoredPlaces stored_places(std::string_view json);

// The client identifier of a stored event ("" when none).
std::string_view stored_client_id(std::string_view json);
// The rating key of a stored event ("" when none).
std::string_view stored_rating_key(std::string_view json);
// Where the `user` object of a stored event closes (npos when there is none).
std::size_t stored_user_end(std::string_view json);
// Whether the `user` object names an account already (a server event names the one of
// its moment; exports then add none).
bool stored_user_named(std::string_view json);

// The fields of a stored event that play reconstruction and the client list read; empty
// views and null optionals where the record has none. The views point into the reader's
// parse and stay valid until its next read().
struct EventFields {
  std::string_view op;
  std::string_view client_id, rating_key;
  std::string_view product, platform, device_name;  // client.*
  std::string_view client_address;                  // client.address (a server event's)
  std::optional<std::int64_t> account_id;           // user.account_id (a server event's)
  std::string_view user_name;                       // user.name (a server event's)
  std::string_view token_fp;                        // user.token_fp (a proxied request's)
  // timeline; notification (its play position fields); session (a snapshot)
  std::string_view state;
  std::optional<std::int64_t> time_ms, duration_ms;
  std::string_view play_queue_item_id;  // the record's string or number, as text
  // session
  std::optional<std::int64_t> bandwidth_kbps;
  std::string_view location;
  std::string_view video_resolution, hdr;  // of the chosen version
  // session, decision: the version played (a Media id, as text)
  std::string_view chosen_media_id;
  // decision
  std::string_view session;
  std::optional<std::int64_t> general_code;
  std::string_view general_text;
  std::optional<bool> direct_play, direct_stream;
  std::string_view video_decision, audio_decision;
  // search
  std::string_view query;
  std::optional<std::int64_t> result_count;
  std::vector<std::string_view> result_keys;  // the rating keys of the results kept, in order
  // playqueue (ids as text)
  std::string_view play_queue_id, source_uri, queue_type, selected_item_id;
  std::optional<bool> shuffled;
  std::optional<std::int64_t> total_count;
  std::vector<std::string_view> item_keys;  // the rating keys of the queue's items, in order
};

class EventReader {
 public:
  EventReader();
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;
  // Reads the fields of `kind` from a stored event; false when its JSON does not parse.
  bool read(std::string_view json, Kind kind, EventFields& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plextap::capture
