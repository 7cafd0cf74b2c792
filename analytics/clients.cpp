#include "analytics/clients.hpp"

#include <algorithm>
#include <limits>
#include <tuple>
#include <unordered_map>

#include "analytics/play_feed.hpp"
#include "analytics/row_fields.hpp"
#include "capture/enrichment_record.hpp"

namespace plextap::analytics {
namespace {

void keep_latest(std::string& field, std::string_view value) {
  if (!value.empty()) field = value;
}

std::string user_fields_of(const capture::EventFields& f) {
  std::string fields;
  base::JsonWriter w(fields);
  put_optional(w, "account_id", f.account_id);
  put_string_or_null(w, "name", f.user_name);
  return fields;
}

}  // namespace

ClientTally::ClientTally(bool builds_plays) {
  if (builds_plays)
    plays_ = std::make_unique<PlayBuilder>(PlayOptions{}, nullptr,
                                           [this](const Play& p) { on_play(p); });
}

void ClientTally::on_play(const Play& p) {
  if (p.client_id.empty()) return;
  ClientRow& row = row_of(p.client_id);
  ++row.plays;
  if (p.source != PlaySource::server) ++row.plays_via_proxy;
  if (p.source != PlaySource::proxy) ++row.plays_on_server;
}

ClientTally::~ClientTally() = default;

ClientRow& ClientTally::row_of(std::string_view id) {
  auto it = rows_.find(std::string(id));
  if (it == rows_.end()) {
    it = rows_.emplace(std::string(id), ClientRow{}).first;
    it->second.client_id = id;
    it->second.first_seen_ms = std::numeric_limits<std::int64_t>::max();
  }
  return it->second;
}

void ClientTally::add(const store::StoredEvent& e, Kind kind, const capture::EventFields& f) {
  if (plays_) plays_->add(play_input(f, kind, e.ts_ms, e.id));
  if (f.client_id.empty()) return;
  ClientRow& row = row_of(f.client_id);
  row.first_seen_ms = std::min(row.first_seen_ms, e.ts_ms);
  row.last_seen_ms = std::max(row.last_seen_ms, e.ts_ms);
  keep_latest(row.product, f.product);
  keep_latest(row.platform, f.platform);
  keep_latest(row.device_name, f.device_name);
  if (kind == Kind::notification || kind == Kind::session) {
    row.on_server = true;
    if (f.account_id || !f.user_name.empty()) row.user_fields = user_fields_of(f);
  } else if (capture::is_proxy_kind(kind) &&
             capture::stored_source(e.json) == capture::EventSource::proxy) {
    row.via_proxy = true;
  }
}

void ClientTally::finish(std::optional<std::int64_t> end_ms) {
  if (plays_) plays_->finish(end_ms);
}

std::vector<ClientRow> ClientTally::rows() const {
  std::vector<ClientRow> rows;
  rows.reserve(rows_.size());
  for (const auto& [id, row] : rows_) rows.push_back(row);
  return rows;
}

std::vector<ClientRow> ClientTally::take_rows(store::Store& store) {
  std::vector<ClientRow> rows;
  rows.reserve(rows_.size());
  for (auto& entry : rows_) {
    complete_user(entry.second, store);
    rows.push_back(std::move(entry.second));
  }
  rows_.clear();
  std::sort(rows.begin(), rows.end(), [](const ClientRow& a, const ClientRow& b) {
    return std::tie(a.first_seen_ms, a.client_id) < std::tie(b.first_seen_ms, b.client_id);
  });
  return rows;
}

void complete_user(ClientRow& row, store::Store& store) {
  if (!row.user_fields.empty()) return;
  if (auto stored = store.account(row.client_id)) {
    // `,"account_id":…,"name":…`, or empty when enrichment named no account.
    if (auto fields = capture::account_user_fields(*stored); fields && fields->size() > 1)
      row.user_fields = fields->substr(1);
    else if (!fields)
      store.note_damage("the account of client " + row.client_id + ": not JSON");
  }
}

std::vector<ClientRow> collect_clients(store::Store& store, std::optional<std::int64_t> since_ms,
                                       std::optional<std::int64_t> until_ms) {
  ClientTally tally;
  store::EventFilter filter;
  filter.since_ms = since_ms;
  filter.until_ms = until_ms;
  read_events(store, filter, true,
              [&](const store::StoredEvent& e, Kind kind, const capture::EventFields& f) {
                tally.add(e, kind, f);
              });
  tally.finish(until_ms);
  return tally.take_rows(store);
}

void write_client(const ClientRow& r, base::JsonWriter& out) {
  out.begin_object();
  put_string_or_null(out, "client_id", r.client_id);
  put_string_or_null(out, "product", r.product);
  put_string_or_null(out, "platform", r.platform);
  put_string_or_null(out, "device_name", r.device_name);
  out.key("user");
  if (r.user_fields.empty()) {
    out.null();
  } else {
    std::string user = "{";
    user += r.user_fields;
    user += '}';
    out.raw(user);
  }
  put_time(out, "first_seen", r.first_seen_ms);
  put_time(out, "last_seen", r.last_seen_ms);
  out.key("via_proxy");
  out.boolean(r.via_proxy);
  out.key("on_server");
  out.boolean(r.on_server);
  out.key("plays");
  out.uint64(r.plays);
  out.key("plays_via_proxy");
  out.uint64(r.plays_via_proxy);
  out.end_object();
}

namespace {

void count(const ClientRow& r, Coverage& c) {
  if (r.on_server) {
    ++c.server_clients;
    if (r.via_proxy) ++c.server_clients_via_proxy;
  }
  c.server_plays += r.plays_on_server;
  // Every play is seen by one side or both: those counted on both sides were both.
  c.server_plays_via_proxy += r.plays_on_server + r.plays_via_proxy - r.plays;
}

}  // namespace

Coverage coverage(const std::vector<ClientRow>& clients) {
  Coverage c;
  for (const ClientRow& r : clients) {
    count(r, c);
    if (r.on_server && !r.via_proxy) c.bypassing.push_back(r);
  }
  return c;
}

Coverage ClientTally::coverage(const PlayBuilder* held) const {
  Coverage c;
  for (const auto& [id, row] : rows_) count(row, c);
  if (plays_) held = plays_.get();
  if (held)
    held->for_each_held([&](std::string_view, PlaySource source) {
    if (source != PlaySource::proxy) ++c.server_plays;
    if (source == PlaySource::both) ++c.server_plays_via_proxy;
  });
  return c;
}

}  // namespace plextap::analytics
