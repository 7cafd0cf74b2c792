// The clients of a store (`export clients`) and how many of them the proxy sees (the
// coverage `stats` prints and, later, /metrics): every client identifier named on either
// side, whether it went through plextap, whether the server saw it, and its plays.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/json_writer.hpp"
#include "capture/classify.hpp"
#include "store/store.hpp"

namespace plextap::capture {
struct EventFields;
}

namespace plextap::analytics {

class PlayBuilder;
struct Play;

struct ClientRow {
  std::string client_id, product, platform, device_name;  // the latest each event named
  std::string user_fields;  // `"account_id":…,"name":…` of the latest known account; empty: none
  std::int64_t first_seen_ms = 0, last_seen_ms = 0;
  bool via_proxy = false;  // a request of it passed through plextap
  bool on_server = false;  // the server named it in a notification or a session snapshot
  std::uint64_t plays = 0;
  std::uint64_t plays_via_proxy = 0;  // the proxy heard them (source proxy or both)
  std::uint64_t plays_on_server = 0;  // the server saw them (source server or both)
};

// How much of what the server sees passes through the proxy.
struct Coverage {
  std::uint64_t server_clients = 0;            // clients the server saw
  std::uint64_t server_clients_via_proxy = 0;  // … of which went through the proxy
  std::uint64_t server_plays = 0;              // plays the server saw
  std::uint64_t server_plays_via_proxy = 0;    // … of which the proxy heard too
  std::vector<ClientRow> bypassing;            // seen by the server, never through the proxy
};

// The clients of a stream of events, tallied as the events come: `collect_clients` feeds it a
// range of the store at once, the CoverageMeter of `serve` a few new events at a time.
class ClientTally {
 public:
  // With `builds_plays`, the tally makes the plays it counts itself; without, it counts those
  // handed to on_play() by the caller's own builder (Insights, which has one already).
  explicit ClientTally(bool builds_plays = true);
  ~ClientTally();
  ClientTally(const ClientTally&) = delete;
  ClientTally& operator=(const ClientTally&) = delete;

  // One event, in store order.
  void add(const store::StoredEvent& event, capture::Kind kind, const capture::EventFields& fields);
  // A play of the caller's builder (see the constructor).
  void on_play(const Play& play);
  // End of input (see PlayBuilder::finish): every open play is counted.
  void finish(std::optional<std::int64_t> end_ms);

  // How much of what the server saw so far passed through the proxy; the plays still open in
  // its own builder, or else in `held`, count as they stand. `bypassing` stays empty.
  Coverage coverage(const PlayBuilder* held = nullptr) const;
  // A copy of the rows so far, in no particular order.
  std::vector<ClientRow> rows() const;
  // The rows, their users completed from enrichment where no event named one, first seen first.
  std::vector<ClientRow> take_rows(store::Store& store);

 private:
  ClientRow& row_of(std::string_view id);

  std::unordered_map<std::string, ClientRow> rows_;
  std::unique_ptr<PlayBuilder> plays_;
};

// The user of a row no event named: the account enrichment resolved for the client, if any.
void complete_user(ClientRow& row, store::Store& store);

// Every client named by the events in [since, until), first seen first. The user is the
// account the server's latest session snapshot of the client named, else the one
// enrichment resolved for it.
std::vector<ClientRow> collect_clients(store::Store& store, std::optional<std::int64_t> since_ms,
                                       std::optional<std::int64_t> until_ms);

// One row of `export clients`: client_id, product, platform, device_name, user
// {account_id, name}, first_seen, last_seen, via_proxy, on_server, plays, plays_via_proxy.
void write_client(const ClientRow& row, base::JsonWriter& out);

Coverage coverage(const std::vector<ClientRow>& clients);

}  // namespace plextap::analytics
