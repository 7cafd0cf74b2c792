#include "capture/enrichment_record.hpp"

#include <simdjson.h>

#include "base/json_writer.hpp"
#include "base/time.hpp"

namespace plextap::capture {

namespace {

// A string field, or the text of a number field (ids are either); empty when neither.
std::string text_of(simdjson::dom::element object, std::string_view key) {
  auto v = object[key];
  if (v.error()) return {};
  if (auto s = v.get_string(); !s.error()) return std::string(s.value());
  if (auto n = v.get_int64(); !n.error()) return std::to_string(n.value());
  return {};
}

}  // namespace

std::optional<ItemFacts> read_item_facts(std::string_view media_json) {
  simdjson::dom::parser parser;
  auto doc = parser.parse(media_json.data(), media_json.size());
  if (doc.error()) return std::nullopt;
  ItemFacts m;
  if (auto d = doc["duration_ms"].get_int64(); !d.error()) m.duration_ms = d.value();
  if (auto list = doc["markers"].get_array(); !list.error())
    for (auto marker : list.value()) {
      Marker mk;
      if (auto t = marker["type"].get_string(); !t.error()) mk.type = std::string(t.value());
      if (auto a = marker["start_ms"].get_int64(); !a.error()) mk.start_ms = a.value();
      if (auto b = marker["end_ms"].get_int64(); !b.error()) mk.end_ms = b.value();
      m.markers.push_back(std::move(mk));
    }
  const auto item = doc.value();
  m.type = text_of(item, "type");
  m.title = text_of(item, "title");
  m.parent_rating_key = text_of(item, "parent_rating_key");
  m.grandparent_rating_key = text_of(item, "grandparent_rating_key");
  m.grandparent_title = text_of(item, "grandparent_title");
  if (auto list = doc["versions"].get_array(); !list.error())
    for (auto version : list.value()) {
      ItemVersion v;
      v.id = text_of(version, "id");
      v.video_resolution = text_of(version, "video_resolution");
      v.hdr = text_of(version, "hdr");
      if (auto p = version["dovi_profile"].get_int64(); !p.error()) v.dovi_profile = p.value();
      m.versions.push_back(std::move(v));
    }
  return m;
}

std::optional<MediaEntry> MediaEntry::decode(std::string_view json) {
  simdjson::dom::parser parser;
  auto doc = parser.parse(json.data(), json.size());
  if (doc.error()) return std::nullopt;
  MediaEntry e;
  auto obj = doc.value();
  if (auto v = obj["fetched_at_ms"].get_int64(); !v.error()) e.fetched_at_ms = v.value();
  if (auto v = obj["status"].get_uint64(); !v.error()) e.status = static_cast<unsigned>(v.value());
  if (auto v = obj["attempts"].get_uint64(); !v.error())
    e.attempts = static_cast<unsigned>(v.value());
  if (auto v = obj["error"].get_string(); !v.error()) e.error = std::string(v.value());
  if (auto v = obj["media"]; !v.error() && !v.is_null()) e.media_json = simdjson::minify(v.value());
  return e;
}

std::string MediaEntry::encode() const {
  std::string out;
  base::JsonWriter w(out);
  w.begin_object();
  w.key("fetched_at");
  w.string(base::rfc3339_ms(fetched_at_ms));
  w.key("fetched_at_ms");
  w.int64(fetched_at_ms);
  w.key("status");
  w.int64(status);
  w.key("attempts");
  w.int64(attempts);
  w.key("error");
  if (error.empty())
    w.null();
  else
    w.string(error);
  w.key("media");
  if (media_json.empty())
    w.null();
  else
    w.raw(media_json);
  w.end_object();
  return out;
}

std::string encode_account(std::string_view account_id, std::string_view name,
                           std::int64_t seen_at_ms) {
  std::string value;
  base::JsonWriter w(value);
  w.begin_object();
  w.key("account_id");
  if (account_id.find_first_not_of("0123456789") == std::string_view::npos && !account_id.empty() &&
      account_id.size() < 18)
    w.raw(account_id);
  else
    w.string(account_id);
  w.key("name");
  w.string(name);
  w.key("seen_at_ms");
  w.int64(seen_at_ms);
  w.end_object();
  return value;
}

std::optional<std::string> account_user_fields(std::string_view stored) {
  simdjson::dom::parser parser;
  auto doc = parser.parse(stored.data(), stored.size());
  if (doc.error() || !doc.value().is_object()) return std::nullopt;
  if (stored.size() <= 2) return std::string();
  // {"account_id":…,"name":…,"seen_at_ms":…} -> ,"account_id":…,"name":…
  auto end = stored.find(",\"seen_at_ms\"");
  if (end == std::string_view::npos) end = stored.size() - 1;
  std::string fields(1, ',');
  fields.append(stored.substr(1, end - 1));
  return fields;
}

}  // namespace plextap::capture
