// Enrichment metadata: the item of a /library/metadata answer flattened into the `media`
// object, its versions classified by dynamic range, its markers put in time order. Read
// through the same XML/JSON view as the recorded calls, so both formats agree.
#include "enrich/metadata.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "base/json_writer.hpp"
#include "base/time.hpp"
#include "capture/parse_doc.hpp"
#include "enrich/dynamic_range.hpp"

namespace plextap::enrich {
namespace {

using base::JsonWriter;

using capture::detail::Node;
using capture::detail::put_id;
using capture::detail::put_number;
using capture::detail::put_string;
using capture::detail::Scalar;
using capture::detail::to_bool;
using capture::detail::to_double;
using capture::detail::to_int;
using capture::detail::to_text;

Scalar either(const Scalar& a, const Scalar& b) {
  return a.present() ? a : b;
}

// String values only: a flag or a number is never a codec name or a marker type.
std::string_view text_of(const Scalar& v) {
  return v.type == Scalar::Type::string ? v.text : std::string_view{};
}

// A time in ms. PMS sends integers; a real is rounded rather than dropped.
std::optional<std::int64_t> to_ms(const Scalar& v) {
  if (auto i = to_int(v)) return i;
  if (auto d = to_double(v); d && std::fabs(*d) < 9e15) return std::llround(*d);
  return std::nullopt;
}

void put_ms(JsonWriter& out, std::string_view key, std::optional<std::int64_t> ms) {
  out.key(key);
  if (ms)
    out.int64(*ms);
  else
    out.null();
}

// ---- guids -------------------------------------------------------------------------------

struct Guids {
  std::string imdb, tmdb, tvdb, plex;
};

// "imdb://tt0103639" (a Guid child) or the legacy agent form of the item's own guid,
// "com.plexapp.agents.imdb://tt0103639?lang=en". The first value per provider wins.
void add_guid(Guids& g, std::string_view guid) {
  auto sep = guid.find("://");
  if (sep == std::string_view::npos) return;
  std::string_view scheme = guid.substr(0, sep);
  std::string_view id = guid.substr(sep + 3);
  if (scheme == "plex") {
    if (g.plex.empty() && !id.empty()) g.plex = guid;
    return;
  }
  std::string* slot = nullptr;
  if (scheme == "imdb" || scheme == "com.plexapp.agents.imdb")
    slot = &g.imdb;
  else if (scheme == "tmdb" || scheme == "com.plexapp.agents.themoviedb")
    slot = &g.tmdb;
  else if (scheme == "tvdb" || scheme == "com.plexapp.agents.thetvdb")
    slot = &g.tvdb;
  if (!slot || !slot->empty()) return;
  id = id.substr(0, id.find('?'));
  // Legacy episode guids are show/season/episode: the show's id, not the item's.
  if (id.empty() || id.find('/') != std::string_view::npos) return;
  *slot = id;
}

void put_guids(JsonWriter& out, const Node& item) {
  Guids g;
  for (const Node& c : item.children({"Guid"})) add_guid(g, to_text(c.get("id")));
  add_guid(g, to_text(item.get("guid")));
  out.key("guids");
  out.begin_object();
  for (auto [key, value] : {std::pair<std::string_view, const std::string&>{"imdb", g.imdb},
                            {"tmdb", g.tmdb},
                            {"tvdb", g.tvdb},
                            {"plex", g.plex}}) {
    out.key(key);
    if (value.empty())
      out.null();
    else
      out.string(value);
  }
  out.end_object();
}

// ---- tags --------------------------------------------------------------------------------

void put_genres(JsonWriter& out, const Node& item) {
  out.key("genres");
  out.begin_array();
  std::size_t n = 0;
  for (const Node& c : item.children({"Genre"})) {
    Scalar tag = c.get("tag");
    if (!tag.present()) continue;
    if (n++ == kMaxMetadataList) break;
    out.string(to_text(tag));
  }
  out.end_array();
}

// Directors, writers and the cast: {id, tag}, and the character for roles.
void put_people(JsonWriter& out, std::string_view key, const Node& item, const char* element,
                bool with_role) {
  out.key(key);
  out.begin_array();
  std::size_t n = 0;
  for (const Node& c : item.children({element})) {
    Scalar tag = c.get("tag");
    if (!tag.present()) continue;
    if (n++ == kMaxMetadataList) break;
    out.begin_object();
    put_id(out, "id", c.get("id"));
    put_string(out, "tag", tag);
    if (with_role) put_string(out, "role", c.get("role"));
    out.end_object();
  }
  out.end_array();
}

void put_ratings(JsonWriter& out, const Node& item) {
  out.key("ratings");
  out.begin_array();
  std::size_t n = 0;
  for (const Node& c : item.children({"Rating"})) {
    auto value = to_double(c.get("value"));
    if (!value) continue;
    if (n++ == kMaxMetadataList) break;
    out.begin_object();
    put_string(out, "type", c.get("type"));
    out.key("value");
    out.number(*value);
    put_string(out, "image", c.get("image"));
    out.end_object();
  }
  out.end_array();
}

// ---- versions ----------------------------------------------------------------------------

void put_version(JsonWriter& out, const Node& media) {
  auto parts = media.children({"Part"});
  Node video, audio, first_audio;
  std::optional<std::int64_t> size = parts.empty() ? std::nullopt : std::optional<std::int64_t>(0);
  for (const Node& part : parts) {
    auto part_size = to_int(part.get("size"));
    size = size && part_size ? std::optional(*size + *part_size) : std::nullopt;
    for (const Node& s : part.children({"Stream"})) {
      auto type = to_int(s.get("streamType"));
      if (type == 1 && !video) video = s;
      if (type == 2 && !first_audio) first_audio = s;
      if (type == 2 && !audio && to_bool(s.get("selected")).value_or(false)) audio = s;
    }
  }
  if (!audio) audio = first_audio;
  DynamicRange range = dynamic_range(video);

  out.begin_object();
  put_id(out, "id", media.get("id"));
  put_string(out, "video_resolution", media.get("videoResolution"));
  put_string(out, "video_codec", either(media.get("videoCodec"), video.get("codec")));
  put_number(out, "bitrate", media.get("bitrate"));
  put_string(out, "container",
             either(media.get("container"), parts.empty() ? Scalar{} : parts[0].get("container")));
  out.key("hdr");
  if (range.hdr)
    out.string(range.hdr);
  else
    out.null();
  put_ms(out, "dovi_profile", range.dovi_profile);
  put_string(out, "audio_codec", either(media.get("audioCodec"), audio.get("codec")));
  put_number(out, "audio_channels", either(media.get("audioChannels"), audio.get("channels")));
  put_ms(out, "size", size);
  out.end_object();
}

// ---- markers and chapters ----------------------------------------------------------------

std::vector<Marker> read_markers(const Node& item) {
  std::vector<Marker> markers;
  for (const Node& m : item.children({"Marker"})) {
    std::string_view type = text_of(m.get("type"));
    if (type != "intro" && type != "credits" && type != "commercial") continue;
    auto start = to_ms(m.get("startTimeOffset"));
    auto end = to_ms(m.get("endTimeOffset"));
    if (!start || !end || *start < 0 || *end < *start) continue;
    markers.push_back({std::string(type), *start, *end});
  }
  auto order = [](const Marker& m) { return std::tie(m.start_ms, m.end_ms, m.type); };
  std::sort(markers.begin(), markers.end(),
            [&](const Marker& a, const Marker& b) { return order(a) < order(b); });
  // Marker ids repeat across markers, so identical spans are the only duplicates to drop.
  markers.erase(std::unique(markers.begin(), markers.end()), markers.end());
  if (markers.size() > kMaxMetadataList) markers.resize(kMaxMetadataList);
  return markers;
}

void put_markers(JsonWriter& out, const std::vector<Marker>& markers) {
  out.key("markers");
  out.begin_array();
  for (const Marker& m : markers) {
    out.begin_object();
    out.key("type");
    out.string(m.type);
    out.key("start_ms");
    out.int64(m.start_ms);
    out.key("end_ms");
    out.int64(m.end_ms);
    out.end_object();
  }
  out.end_array();
}

void put_chapters(JsonWriter& out, const Node& item) {
  struct Chapter {
    Node node;
    std::int64_t start_ms;
  };
  std::vector<Chapter> chapters;
  for (const Node& c : item.children({"Chapter"}))
    if (auto start = to_ms(c.get("startTimeOffset")); start && *start >= 0)
      chapters.push_back({c, *start});
  std::stable_sort(chapters.begin(), chapters.end(),
                   [](const Chapter& a, const Chapter& b) { return a.start_ms < b.start_ms; });
  if (chapters.size() > kMaxMetadataList) chapters.resize(kMaxMetadataList);

  out.key("chapters");
  out.begin_array();
  for (const Chapter& c : chapters) {
    out.begin_object();
    put_number(out, "index", c.node.get("index"));
    put_string(out, "tag", c.node.get("tag"));
    put_ms(out, "start_ms", c.start_ms);
    put_ms(out, "end_ms", to_ms(c.node.get("endTimeOffset")));
    out.end_object();
  }
  out.end_array();
}

// ---- the item ----------------------------------------------------------------------------

// The server leaves out viewCount and skipCount while they are zero.
void put_count(JsonWriter& out, std::string_view key, const Scalar& v) {
  if (v.present()) return put_number(out, key, v);
  out.key(key);
  out.int64(0);
}

void put_last_viewed(JsonWriter& out, const Scalar& v) {
  out.key("last_viewed_at");
  auto secs = to_int(v);
  if (!secs)
    if (auto d = to_double(v)) secs = static_cast<std::int64_t>(std::floor(*d));
  // Epoch seconds; 0 means never, and past year 9999 RFC 3339 has no form.
  if (secs && *secs > 0 && *secs < 253402300800)
    out.string(base::rfc3339_ms(*secs * 1000));
  else
    out.null();
}

}  // namespace

MediaParse parse_metadata(std::string_view body) {
  MediaParse result;
  // No status or content type: the enricher only parses 2xx answers, and the first byte
  // tells XML from JSON.
  capture::detail::Document doc(200, {}, body);
  const Node& c = doc.container();
  if (!c) {
    result.error = doc.error().empty() ? "empty body" : doc.error();
    return result;
  }
  Node item = c.first_child(capture::detail::kItemNames);
  if (!item) {
    result.error = "MediaContainer holds no item";
    return result;
  }
  auto versions = item.children({"Media"});

  result.type = to_text(item.get("type"));
  result.duration_ms = to_ms(item.get("duration"));
  if (!result.duration_ms && !versions.empty())
    result.duration_ms = to_ms(versions[0].get("duration"));
  result.markers = read_markers(item);

  JsonWriter out(result.media_json);
  out.begin_object();
  put_string(out, "type", item.get("type"));
  put_string(out, "title", item.get("title"));
  put_number(out, "year", item.get("year"));
  put_string(out, "grandparent_title", item.get("grandparentTitle"));
  put_string(out, "parent_title", item.get("parentTitle"));
  put_number(out, "parent_index", item.get("parentIndex"));
  put_number(out, "index", item.get("index"));
  put_string(out, "parent_rating_key", item.get("parentRatingKey"));
  put_string(out, "grandparent_rating_key", item.get("grandparentRatingKey"));
  put_ms(out, "duration_ms", result.duration_ms);
  put_id(out, "library_section_id",
         either(item.get("librarySectionID"), c.get("librarySectionID")));
  put_string(out, "library_section_title",
             either(item.get("librarySectionTitle"), c.get("librarySectionTitle")));
  put_guids(out, item);
  put_genres(out, item);
  put_people(out, "directors", item, "Director", false);
  put_people(out, "writers", item, "Writer", false);
  put_people(out, "roles", item, "Role", true);
  put_ratings(out, item);
  put_string(out, "content_rating", item.get("contentRating"));
  put_string(out, "studio", item.get("studio"));
  put_count(out, "view_count", item.get("viewCount"));
  put_count(out, "skip_count", item.get("skipCount"));
  put_last_viewed(out, item.get("lastViewedAt"));
  out.key("versions");
  out.begin_array();
  for (std::size_t i = 0; i < versions.size() && i < kMaxMetadataList; ++i)
    put_version(out, versions[i]);
  out.end_array();
  put_markers(out, result.markers);
  put_chapters(out, item);
  out.end_object();
  return result;
}

}  // namespace plextap::enrich
