// The stored records of enrichment, written by enrich/ and read by analytics/, so their
// layout lives here, once: the media entry per rating key (the server's metadata, as
// parsed by enrich/metadata) and the account per client identifier.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plextap::capture {

// An intro, credits or commercial span of an item, in ms from its start.
struct Marker {
  std::string type;  // "intro", "credits" or "commercial"
  std::int64_t start_ms = 0;
  std::int64_t end_ms = 0;

  friend bool operator==(const Marker&, const Marker&) = default;
};

// One version (Media) of an item, as enrichment stored it.
struct ItemVersion {
  std::string id;  // the Media id, as text
  std::string video_resolution;
  std::string hdr;  // "dolby_vision", "hdr10", "hlg"; empty: SDR or unknown
  std::optional<std::int64_t> dovi_profile;
};

// What the read side needs of an enriched item: its markers and duration (plays), its
// place in a show (runs, search matches) and its versions (the chosen one's picture).
struct ItemFacts {
  std::vector<Marker> markers;
  std::optional<std::int64_t> duration_ms;
  std::string type;  // "episode", "movie", …
  std::string title;
  std::string parent_rating_key, grandparent_rating_key;  // season and show; empty: none
  std::string grandparent_title;
  std::vector<ItemVersion> versions;
};

// Reads an ItemFacts of a stored media object; null when it is not JSON.
std::optional<ItemFacts> read_item_facts(std::string_view media_json);

// The stored value for one rating key (a JSON object):
//   {"fetched_at":"…","fetched_at_ms":N,"status":S,"attempts":A,"error":…,"media":{…}|null}
struct MediaEntry {
  std::int64_t fetched_at_ms = 0;
  unsigned status = 0;
  unsigned attempts = 0;  // consecutive failures
  std::string error;
  std::string media_json;  // empty: none
  static std::optional<MediaEntry> decode(std::string_view json);
  std::string encode() const;
};

// The stored value for one client identifier, from the server's /status/sessions:
//   {"account_id":N|"…","name":"…","seen_at_ms":N}
// (the account id is a number when it is one, as the server writes it).
std::string encode_account(std::string_view account_id, std::string_view name,
                           std::int64_t seen_at_ms);

// `,"account_id":…,"name":"…"`: the fields of a stored account that exports add to an
// event's `user` object. Empty when there are none; null when `stored` is not a JSON object.
std::optional<std::string> account_user_fields(std::string_view stored);

}  // namespace plextap::capture
