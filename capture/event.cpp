#include "capture/event.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>

#include "base/json_writer.hpp"
#include "base/time.hpp"
#include "capture/body_decode.hpp"
#include "capture/client_info.hpp"
#include "capture/parse.hpp"
#include "capture/query.hpp"
#include "capture/redact_exchange.hpp"
#include "capture/text.hpp"

namespace plextap::capture {
namespace {

void string_or_null(base::JsonWriter& w, std::string_view key, const std::string& value) {
  w.key(key);
  if (value.empty())
    w.null();
  else
    w.string(value);
}

}  // namespace

store::Record build_record(CapturedExchange captured) {
  Exchange& ex = captured.exchange;
  // First of all: from here on, the event and the stored exchange are built from the
  // redacted exchange only, and the parsers read the redacted response body.
  const Decoded response = redact_exchange(ex, kMaxCheckedBody);
  store::Record record;
  record.kind = static_cast<std::uint8_t>(captured.route ? captured.route->kind : Kind::other);
  record.ts_ms = ex.ts_ms;
  if (ex.request_truncated || ex.response_truncated) record.flags |= kFlagTruncated;
  if (!captured.complete) record.flags |= kFlagIncomplete;

  auto params = decode_query(ex.target);
  strip_token(params);
  std::vector<Header> headers;
  headers.reserve(ex.request_headers.size());
  for (const auto& [n, v] : ex.request_headers) headers.push_back({n, v});
  ClientInfo client = client_info(headers, params);

  std::string& out = record.json;
  out.reserve(1024);
  base::JsonWriter w(out);
  w.begin_object();
  w.key("ts");
  w.string(base::rfc3339_ms(ex.ts_ms));
  w.key("kind");
  w.string(captured.route ? to_string(captured.route->kind) : "other");
  w.key("op");
  if (captured.route && !captured.route->op.empty())
    w.string(captured.route->op);
  else
    w.null();
  w.key("method");
  w.string(ex.method);
  w.key("path");
  w.string(path_of(ex.target));
  w.key("params");
  w.begin_object();
  for (const auto& p : params) {
    w.key(p.name);
    w.string(p.value);
  }
  w.end_object();
  w.key("status");
  if (ex.status)
    w.int64(ex.status);
  else
    w.null();
  w.key("latency_ms");
  w.number(static_cast<double>(ex.latency_us) / 1000.0);
  w.key("client");
  w.begin_object();
  string_or_null(w, "id", client.id);
  string_or_null(w, "product", client.product);
  string_or_null(w, "version", client.version);
  string_or_null(w, "platform", client.platform);
  string_or_null(w, "platform_version", client.platform_version);
  string_or_null(w, "device", client.device);
  string_or_null(w, "device_name", client.device_name);
  string_or_null(w, "device_vendor", client.device_vendor);
  string_or_null(w, "model", client.model);
  string_or_null(w, "session", client.session);
  w.end_object();
  w.key("user");
  w.begin_object();
  string_or_null(w, "token_fp", captured.token_fp);
  w.end_object();
  string_or_null(w, "remote_addr", ex.remote_addr);

  if (captured.route) {
    // Parse into a side buffer first: the rating key it finds goes before the kind fields.
    std::string fields;
    base::JsonWriter fw(fields);
    fw.begin_object();
    ParseResult parsed;
    if (!response.ok) {
      parsed.parse_error = "cannot decode response body: " + response.error;
    } else {
      parsed = parse_fields(*captured.route, path_of(ex.target), params, ex.status,
                            header_value(ex.response_headers, "Content-Type"), response.body, fw,
                            client.session);
    }
    fw.end_object();
    record.rating_key = parsed.rating_key;
    string_or_null(w, "rating_key", parsed.rating_key);
    // Splice the kind's fields (without their braces) into this object.
    if (fields.size() > 2) {
      out += ',';
      out.append(fields, 1, fields.size() - 2);
    }
    if (!parsed.parse_error.empty()) {
      record.flags |= kFlagParseError;
      w.key("parse_error");
      w.string(parsed.parse_error);
    }
  } else {
    w.key("rating_key");
    w.null();
  }
  if (record.flags & kFlagTruncated) {
    w.key("truncated");
    w.boolean(true);
  }
  w.key("source");
  w.string(to_string(EventSource::proxy));
  w.key("media");
  w.null();
  w.end_object();
  record.exchange = encode_exchange(ex);
  return record;
}

namespace {
// Splices object members (JSON text without braces) after the value just written.
void append_members(std::string& out, std::string_view members) {
  if (members.empty()) return;
  out += ',';
  out += members;
}
}  // namespace

std::string_view to_string(EventSource source) {
  return source == EventSource::server ? "server" : "proxy";
}

store::Record build_server_record(const ServerEvent& e) {
  store::Record record;
  record.kind = static_cast<std::uint8_t>(e.kind);
  record.ts_ms = e.ts_ms;
  record.rating_key = e.rating_key;
  std::string& out = record.json;
  out.reserve(512 + e.fields.size());
  base::JsonWriter w(out);
  w.begin_object();
  w.key("ts");
  w.string(base::rfc3339_ms(e.ts_ms));
  w.key("kind");
  w.string(to_string(e.kind));
  w.key("op");
  if (e.op.empty())
    w.null();
  else
    w.string(e.op);
  for (const char* key : {"method", "path"}) {
    w.key(key);
    w.null();
  }
  w.key("params");
  w.begin_object();
  w.end_object();
  for (const char* key : {"status", "latency_ms"}) {
    w.key(key);
    w.null();
  }
  const ClientInfo& c = e.client;
  w.key("client");
  w.begin_object();
  string_or_null(w, "id", c.id);
  string_or_null(w, "product", c.product);
  string_or_null(w, "version", c.version);
  string_or_null(w, "platform", c.platform);
  string_or_null(w, "platform_version", c.platform_version);
  string_or_null(w, "device", c.device);
  string_or_null(w, "device_name", c.device_name);
  string_or_null(w, "device_vendor", c.device_vendor);
  string_or_null(w, "model", c.model);
  string_or_null(w, "session", c.session);
  append_members(out, e.client_more);
  w.end_object();
  w.key("user");
  w.begin_object();
  w.key("token_fp");
  w.null();
  append_members(out, e.user_more);
  w.end_object();
  w.key("remote_addr");
  w.null();
  string_or_null(w, "rating_key", e.rating_key);
  append_members(out, e.fields);
  w.key("source");
  w.string(to_string(EventSource::server));
  w.key("media");
  w.null();
  w.end_object();
  return record;
}

}  // namespace plextap::capture

namespace plextap::capture {
namespace {

// The string value that follows `key` at `at` in a stored record ("" when `json` does not
// have `key` there or its value is not a plain string, e.g. null).
std::string_view string_at(std::string_view json, std::size_t at, std::string_view key) {
  if (at == std::string_view::npos || json.compare(at, key.size(), key) != 0) return {};
  at += key.size();
  if (at >= json.size() || json[at] != '"') return {};
  auto end = json.find('"', ++at);
  return end == std::string_view::npos ? std::string_view{} : json.substr(at, end - at);
}

// The closing quote of the JSON string whose opening quote is at `at` (json.size() when
// it does not close). memchr-fast: exports run this over every event.
std::size_t string_end(std::string_view json, std::size_t at) {
  for (;;) {
    at = json.find('"', at + 1);
    if (at == std::string_view::npos) return json.size();
    std::size_t backslashes = 0;
    while (json[at - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return at;
  }
}

// Where the `params` object ends: the fields after it are the record's own. Its keys and
// values are strings the client chose, so they are stepped over, never searched. npos when
// the record has no such object.
std::size_t after_params(std::string_view json) {
  constexpr std::string_view kParams = "\"params\":{";
  auto at = json.find(kParams);
  if (at == std::string_view::npos) return at;
  for (at += kParams.size() - 1;;) {
    at = json.find_first_of("\"}", at + 1);
    if (at == std::string_view::npos) return at;
    if (json[at] == '}') return at + 1;
    at = string_end(json, at);
  }
}

}  // namespace

std::string stored_client_prefix(std::string_view client_id) {
  std::string prefix = "\"client\":{\"id\":";
  base::append_json_string(prefix, client_id);
  return prefix;
}

StoredPlaces stored_places(std::string_view json) {
  constexpr std::string_view kClient = "\"client\":{\"id\":";
  constexpr std::string_view kUser = "\"user\":{";
  constexpr std::string_view kRemote = "\"remote_addr\":";
  StoredPlaces places;
  // The record's own fields come after `params`, in the order of the layout above.
  std::size_t at = after_params(json);
  if (at == std::string_view::npos) return places;
  at = json.find(kClient, at);
  places.client_id = string_at(json, at, kClient);
  if (at == std::string_view::npos) return places;
  at = json.find(kUser, at);
  if (at == std::string_view::npos) return places;
  const std::size_t user = at;
  // Flat: strings (a server event's user name may hold a brace), numbers, null.
  for (at += kUser.size(); at < json.size() && json[at] != '}'; ++at)
    if (json[at] == '"') at = string_end(json, at);
  if (at >= json.size()) return places;
  places.user_end = at;
  places.user_named =
      json.substr(user, at - user).find(",\"account_id\":") != std::string_view::npos;
  // The top-level rating key follows remote_addr (an address, or null); the kind's fields
  // come later (search results name rating keys too).
  if (json.compare(at + 1, kRemote.size() + 1, ",\"remote_addr\":") != 0) return places;
  at += 1 + kRemote.size() + 1;
  if (json.compare(at, 4, "null") == 0) {
    at += 4;
  } else {
    if (at >= json.size() || json[at] != '"') return places;
    at = string_end(json, at);
    if (at >= json.size()) return places;
    ++at;
  }
  places.rating_key = string_at(json, at, ",\"rating_key\":");
  return places;
}

std::string_view stored_client_id(std::string_view json) {
  return stored_places(json).client_id;
}

std::string_view stored_rating_key(std::string_view json) {
  return stored_places(json).rating_key;
}

std::size_t stored_user_end(std::string_view json) {
  return stored_places(json).user_end;
}

bool stored_user_named(std::string_view json) {
  return stored_places(json).user_named;
}

EventSource stored_source(std::string_view json) {
  constexpr std::string_view kServerTail = "\"source\":\"server\",\"media\":null}";
  return json.ends_with(kServerTail) ? EventSource::server : EventSource::proxy;
}

struct EventReader::Impl {
  simdjson::dom::parser parser;
  // Numeric ids, as text: play_queue_item_id, chosen_media_id, play_queue_id, selected_item_id.
  std::array<std::string, 4> id_texts;
};

EventReader::EventReader() : impl_(std::make_unique<Impl>()) {}
EventReader::~EventReader() = default;

bool EventReader::read(std::string_view json, Kind kind, EventFields& out) {
  auto doc = impl_->parser.parse(json.data(), json.size());
  if (doc.error()) return false;
  auto str = [](simdjson::dom::element e, const char* key) -> std::string_view {
    auto v = e[key];
    if (v.error() || !v.is_string()) return {};
    return v.get_string().value();
  };
  auto num = [](simdjson::dom::element e, const char* key) -> std::optional<std::int64_t> {
    auto v = e[key];
    if (v.error()) return std::nullopt;
    if (auto i = v.get_int64(); !i.error()) return i.value();
    if (auto d = v.get_double(); !d.error()) return static_cast<std::int64_t>(d.value());
    return std::nullopt;
  };
  auto flag = [](simdjson::dom::element e, const char* key) -> std::optional<bool> {
    auto v = e[key];
    if (v.error()) return std::nullopt;
    if (auto b = v.get_bool(); !b.error()) return b.value();
    return std::nullopt;
  };
  // An id the record holds as a string or a number, as text.
  auto id = [this](simdjson::dom::element e, const char* key, std::size_t slot) -> std::string_view {
    auto v = e[key];
    if (v.error()) return {};
    if (v.is_string()) return v.get_string().value();
    if (v.is_int64()) return impl_->id_texts[slot] = std::to_string(v.get_int64().value());
    return {};
  };
  simdjson::dom::element record = doc.value();
  // Reuse the lists' capacity from one event to the next.
  auto result_keys = std::move(out.result_keys);
  auto item_keys = std::move(out.item_keys);
  result_keys.clear();
  item_keys.clear();
  out = EventFields{};
  out.result_keys = std::move(result_keys);
  out.item_keys = std::move(item_keys);
  out.op = str(record, "op");
  if (auto c = record["client"]; !c.error()) {
    out.client_id = str(c.value(), "id");
    out.product = str(c.value(), "product");
    out.platform = str(c.value(), "platform");
    out.device_name = str(c.value(), "device_name");
    out.client_address = str(c.value(), "address");
  }
  if (auto u = record["user"]; !u.error() && u.is_object()) {
    out.account_id = num(u.value(), "account_id");
    out.user_name = str(u.value(), "name");
    out.token_fp = str(u.value(), "token_fp");
  }
  out.rating_key = str(record, "rating_key");
  auto keys_of = [&](const char* list, const char* key, std::vector<std::string_view>& into) {
    simdjson::dom::array a;
    if (record[list].get_array().get(a) != simdjson::SUCCESS) return;
    for (simdjson::dom::element element : a) {
      if (element.is_string())
        into.push_back(element.get_string().value());
      else if (key && element.is_object())
        if (auto k = element[key]; !k.error() && k.is_string()) into.push_back(k.get_string().value());
    }
  };
  switch (kind) {
    case Kind::timeline:
    case Kind::notification:
    case Kind::session: {
      out.state = str(record, "state");
      out.time_ms = num(record, "time_ms");
      out.duration_ms = num(record, "duration_ms");
      out.play_queue_item_id = id(record, "play_queue_item_id", 0);
      if (kind == Kind::session) {
        out.bandwidth_kbps = num(record, "bandwidth_kbps");
        out.location = str(record, "location");
        out.chosen_media_id = id(record, "chosen_media_id", 1);
        out.video_resolution = str(record, "video_resolution");
        out.hdr = str(record, "hdr");
      }
      break;
    }
    case Kind::decision: {
      out.session = str(record, "session");
      if (auto g = record["general_decision"]; !g.error() && g.is_object()) {
        out.general_code = num(g.value(), "code");
        out.general_text = str(g.value(), "text");
      }
      out.direct_play = flag(record, "direct_play");
      out.direct_stream = flag(record, "direct_stream");
      if (auto v = record["video"]; !v.error() && v.is_object())
        out.video_decision = str(v.value(), "decision");
      if (auto a = record["audio"]; !a.error() && a.is_object())
        out.audio_decision = str(a.value(), "decision");
      out.chosen_media_id = id(record, "chosen_media_id", 1);
      break;
    }
    case Kind::search:
      out.query = str(record, "query");
      out.result_count = num(record, "result_count");
      keys_of("results", "rating_key", out.result_keys);
      break;
    case Kind::playqueue:
      out.play_queue_id = id(record, "play_queue_id", 2);
      out.source_uri = str(record, "source_uri");
      out.queue_type = str(record, "type");
      out.selected_item_id = id(record, "selected_item_id", 3);
      out.shuffled = flag(record, "shuffled");
      out.total_count = num(record, "total_count");
      keys_of("items", nullptr, out.item_keys);
      break;
    default:
      break;
  }
  return true;
}

}  // namespace plextap::capture
