// The schemas of the export kinds, field by field in the order their writers write them:
// capture/event.cpp and capture/parse_*.cpp (proxy events), enrich/server_events.cpp (the
// server's side), enrich/metadata.cpp (the media object), analytics/play_row.cpp (plays),
// analytics/clients.cpp (clients). tests/unit/export_schema_test.cpp holds them to it.
#include "analytics/schema.hpp"

#include <simdjson.h>

#include <algorithm>
#include <stdexcept>

#include "base/json_writer.hpp"
#include "base/text_distance.hpp"

namespace plextap::analytics {
namespace {

// ---- field builders ----------------------------------------------------------------------

Field of(std::string name, unsigned types) {
  Field f;
  f.name = std::move(name);
  f.types = types;
  return f;
}
Field str(std::string name) {
  return of(std::move(name), kString);
}
Field num(std::string name) {  // put_number: an integer where integral, else a fraction
  return of(std::move(name), kNumber);
}
Field integer(std::string name) {
  return of(std::move(name), kInteger);
}
Field flag(std::string name) {
  return of(std::move(name), kBoolean);
}
Field id(std::string name) {  // put_id: a number where the server's id is integral
  return of(std::move(name), kInteger | kString);
}
Field when(std::string name) {
  Field f = str(std::move(name));
  f.time = true;
  return f;
}
Field object(std::string name, std::vector<Field> fields) {
  Field f = of(std::move(name), kObject);
  f.fields = std::move(fields);
  return f;
}
Field array(std::string name, std::vector<Field> items = {}) {
  Field f = of(std::move(name), kArray);
  f.items = std::move(items);
  return f;
}
Field not_null(Field f) {
  f.nullable = false;
  return f;
}
Field maybe_absent(Field f) {
  f.optional = true;
  return f;
}

// ---- events ------------------------------------------------------------------------------

// Session snapshots name more of the player than a request's headers do.
std::vector<Field> client_fields(bool with_snapshot_fields) {
  std::vector<Field> fields{str("id"),          str("product"),          str("version"),
                            str("platform"),    str("platform_version"), str("device"),
                            str("device_name"), str("device_vendor"),    str("model"),
                            str("session")};
  if (with_snapshot_fields)
    for (Field f :
         {str("address"), str("public_address"), flag("local"), flag("relayed"), flag("secure")})
      fields.push_back(std::move(f));
  return fields;
}

// Every event starts with these (capture/event.cpp, pinned by event_layout_test); the
// export puts the store id in front, as a string (ids exceed 2^53).
std::vector<Field> leading_fields(bool with_snapshot_fields) {
  Field params = not_null(of("params", kObject));
  params.free_form = true;
  // The account is joined by the export (proxy events) or named by the server (sessions).
  Field user = not_null(object("user", {str("token_fp"), id("account_id"), str("name")}));
  return {not_null(str("id")),   not_null(when("ts")),
          not_null(str("kind")), str("op"),
          str("method"),         str("path"),
          std::move(params),     integer("status"),
          num("latency_ms"),     not_null(object("client", client_fields(with_snapshot_fields))),
          std::move(user),       str("remote_addr"),
          str("rating_key")};
}

std::vector<Field> trailing_fields() {
  return {maybe_absent(str("parse_error")), maybe_absent(not_null(flag("truncated"))),
          not_null(str("source"))};
}

std::vector<Field> media_fields() {
  return {str("type"),
          str("title"),
          num("year"),
          str("grandparent_title"),
          str("parent_title"),
          num("parent_index"),
          num("index"),
          str("parent_rating_key"),
          str("grandparent_rating_key"),
          integer("duration_ms"),
          id("library_section_id"),
          str("library_section_title"),
          not_null(object("guids", {str("imdb"), str("tmdb"), str("tvdb"), str("plex")})),
          not_null(array("genres")),
          not_null(array("directors", {id("id"), str("tag")})),
          not_null(array("writers", {id("id"), str("tag")})),
          not_null(array("roles", {id("id"), str("tag"), str("role")})),
          not_null(array("ratings", {str("type"), num("value"), str("image")})),
          str("content_rating"),
          str("studio"),
          num("view_count"),
          num("skip_count"),
          when("last_viewed_at"),
          not_null(array("versions",
                         {id("id"), str("video_resolution"), str("video_codec"), num("bitrate"),
                          str("container"), str("hdr"), integer("dovi_profile"), str("audio_codec"),
                          num("audio_channels"), integer("size")})),
          not_null(array("markers", {str("type"), integer("start_ms"), integer("end_ms")})),
          not_null(array("chapters",
                         {num("index"), str("tag"), integer("start_ms"), integer("end_ms")}))};
}

Field media() {
  return object("media", media_fields());
}

std::vector<Field> timeline_fields() {
  return {str("state"), num("time_ms"),          num("duration_ms"),     id("play_queue_item_id"),
          str("key"),   num("termination_code"), str("termination_text")};
}

std::vector<Field> queue_fields() {
  return {id("play_queue_id"),    str("source_uri"),          str("type"),    flag("shuffle"),
          num("repeat"),          flag("continuous"),         flag("own"),    num("total_count"),
          id("selected_item_id"), str("selected_rating_key"), num("version"), flag("shuffled"),
          array("items")};
}

std::vector<Field> playback_request_fields() {
  return {str("protocol"),         flag("direct_play"), flag("direct_stream"),
          num("media_index"),      num("part_index"),   num("max_video_bitrate"),
          str("video_resolution"), str("session"),      str("location")};
}

std::vector<Field> decision_fields() {
  auto fields = playback_request_fields();
  for (const char* code :
       {"general_decision", "direct_play_decision", "transcode_decision", "mde_decision"})
    fields.push_back(not_null(object(code, {num("code"), str("text")})));
  // Null when the answer has no stream of that type (capture/parse_decision.cpp).
  fields.push_back(object("video", {str("decision"), str("codec"), str("location"), num("bitrate"),
                                    num("width"), num("height")}));
  fields.push_back(object("audio", {str("decision"), str("codec"), str("location"), num("bitrate"),
                                    num("channels"), str("language_code")}));
  fields.push_back(
      object("subtitle", {str("decision"), str("codec"), str("location"), str("language_code")}));
  fields.push_back(str("part_decision"));
  fields.push_back(id("chosen_media_id"));
  return fields;
}

std::vector<Field> search_fields() {
  return {str("query"),
          num("limit"),
          id("section_id"),
          array("hubs", {str("hub_identifier"), str("type"), num("size"), flag("more")}),
          integer("result_count"),
          array("results", {str("rating_key"), str("type"), str("title")})};
}

// What `export searches` adds to each search: whether a play followed it.
std::vector<Field> search_outcome_fields() {
  return {not_null(flag("played")), str("played_rating_key"), num("seconds_to_play")};
}

// The union of the notification types kept (enrich/server_events.cpp): playing, timeline,
// activity, transcodeSession.update, status; each writes its own, so all but `type` may be
// absent.
std::vector<Field> notification_fields() {
  std::vector<Field> fields{str("session_key"),
                            str("key"),
                            of("state", kString | kNumber),
                            num("time_ms"),
                            num("play_queue_item_id"),
                            str("transcode_session"),
                            id("section_id"),
                            id("item_id"),
                            num("item_type"),
                            str("title"),
                            when("updated_at"),
                            str("event"),
                            str("uuid"),
                            str("activity_type"),
                            str("subtitle"),
                            num("progress"),
                            id("user_id"),
                            str("transcode_key"),
                            str("video_decision"),
                            str("audio_decision"),
                            num("speed"),
                            flag("throttled"),
                            flag("hw_requested"),
                            flag("hw_full_pipeline"),
                            str("description"),
                            str("notification_name")};
  for (auto& f : fields) f.optional = true;
  fields.insert(fields.begin(), not_null(str("type")));
  return fields;
}

std::vector<Field> session_fields() {
  return {str("session_key"), str("session_id"),     str("state"),
          num("time_ms"),     num("duration_ms"),    num("bandwidth_kbps"),
          str("location"),    id("chosen_media_id"), str("video_resolution"),
          str("hdr"),         str("video_decision"), str("audio_decision"),
          num("speed"),       flag("throttled"),     str("hw_decode"),
          str("hw_encode")};
}

std::vector<Field> resource_fields() {
  return {num("host_cpu_pct"),    num("process_cpu_pct"),
          num("host_memory_pct"), num("process_memory_pct"),
          when("sampled_at"),     integer("transcoder_active_video_sessions")};
}

// Adds `more` to `into`: new fields at the end, a field of both allowing what either allows.
void merge(std::vector<Field>& into, const std::vector<Field>& more) {
  for (const Field& f : more) {
    auto it =
        std::find_if(into.begin(), into.end(), [&](const Field& g) { return g.name == f.name; });
    if (it == into.end()) {
      into.push_back(f);
      continue;
    }
    it->types |= f.types;
    it->nullable = it->nullable || f.nullable;
    it->optional = it->optional || f.optional;
    it->time = it->time && f.time;
    merge(it->fields, f.fields);
    merge(it->items, f.items);
  }
}

Schema event_schema(std::string kind, const std::vector<Field>& kind_fields,
                    bool with_snapshot_fields = false) {
  Schema s{std::move(kind), leading_fields(with_snapshot_fields)};
  s.fields.insert(s.fields.end(), kind_fields.begin(), kind_fields.end());
  for (Field& f : trailing_fields()) s.fields.push_back(std::move(f));
  s.fields.push_back(media());
  return s;
}

// `events`: the leading fields, then every kind's fields in the order of the kinds (timeline,
// scrobbles, ratings, queues, decisions and transcodes, searches, notifications, sessions,
// resources), each optional, as an event has only its own kind's.
Schema all_events_schema() {
  std::vector<Field> fields;
  for (const auto& kind :
       {timeline_fields(), std::vector<Field>{str("identifier")}, std::vector<Field>{num("rating")},
        queue_fields(), decision_fields(), search_fields(), notification_fields(), session_fields(),
        resource_fields()})
    merge(fields, kind);
  for (auto& f : fields) f.optional = true;
  return event_schema("events", fields, true);
}

Field user_of_row() {
  return object("user", {integer("account_id"), str("name")});
}

Schema plays_schema() {
  return {"plays",
          {str("client_id"),
           str("rating_key"),
           id("play_queue_item_id"),
           not_null(when("started_at")),
           not_null(when("ended_at")),
           not_null(str("ended_by")),
           integer("duration_ms"),
           not_null(integer("watched_ms")),
           integer("max_position_ms"),
           num("completion"),
           not_null(integer("pauses")),
           not_null(integer("seeks")),
           not_null(integer("seeks_forward")),
           not_null(integer("seeks_back")),
           flag("intro_skipped"),
           flag("credits_skipped"),
           flag("stopped_in_credits"),
           not_null(flag("scrobbled")),
           object("decision", {not_null(when("ts")), str("session"), integer("general_code"),
                               str("general_text"), flag("direct_play"), flag("direct_stream"),
                               str("video"), str("audio")}),
           object("search", {not_null(str("id")), not_null(str("query")), integer("result_count"),
                             not_null(when("ts"))}),
           media(),
           not_null(str("source")),
           user_of_row(),
           str("location"),
           integer("bandwidth_kbps"),
           str("player_address"),
           str("chosen_media_id"),
           str("video_resolution"),
           str("hdr"),
           integer("dovi_profile"),
           not_null(str("run_id")),
           not_null(integer("run_index"))}};
}

Schema clients_schema() {
  return {"clients",
          {str("client_id"), str("product"), str("platform"), str("device_name"),
           object("user", {id("account_id"), str("name")}), not_null(when("first_seen")),
           not_null(when("last_seen")), not_null(flag("via_proxy")), not_null(flag("on_server")),
           not_null(integer("plays")), not_null(integer("plays_via_proxy"))}};
}

Schema media_schema() {
  return {"media",
          {not_null(str("rating_key")), not_null(when("fetched_at")),
           not_null(integer("fetched_at_ms")), not_null(integer("status")),
           not_null(integer("attempts")), str("error"), media()}};
}

Schema runs_schema() {
  return {"runs",
          {not_null(str("run_id")), not_null(str("client_id")), user_of_row(),
           not_null(when("started_at")), not_null(when("ended_at")), not_null(integer("plays")),
           not_null(integer("watched_ms")), not_null(integer("shows")),
           not_null(integer("longest_same_show_streak")), not_null(flag("binge")),
           not_null(integer("intro_skips")), not_null(integer("credits_skips"))}};
}

Schema queue_outcomes_schema() {
  std::vector<Field> ops;
  for (const char* op : {"create", "get", "add", "shuffle", "unshuffle", "reset", "move", "remove",
                         "clear", "delete"})
    ops.push_back(not_null(integer(op)));
  return {"queue_outcomes",
          {not_null(str("play_queue_id")), not_null(str("client_id")), user_of_row(),
           not_null(when("created_at")), str("source_uri"), str("type"), not_null(integer("items")),
           not_null(flag("shuffled")), not_null(object("ops", std::move(ops))),
           not_null(integer("items_played")), when("first_play_at"), not_null(flag("abandoned"))}};
}

std::vector<Schema> build_schemas() {
  std::vector<Schema> all;
  all.push_back(all_events_schema());
  all.push_back(event_schema("timeline", timeline_fields()));
  all.push_back(event_schema("scrobbles", {str("identifier")}));
  all.push_back(event_schema("ratings", {num("rating")}));
  all.push_back(event_schema("queues", queue_fields()));
  all.push_back(event_schema("decisions", decision_fields()));
  all.push_back(event_schema("transcodes", playback_request_fields()));
  Schema searches = event_schema("searches", search_fields());
  for (Field& f : search_outcome_fields()) searches.fields.push_back(std::move(f));
  all.push_back(std::move(searches));
  all.push_back(event_schema("other", {}));
  all.push_back(event_schema("notifications", notification_fields()));
  all.push_back(event_schema("sessions", session_fields(), true));
  all.push_back(event_schema("resources", resource_fields()));
  all.push_back(plays_schema());
  all.push_back(runs_schema());
  all.push_back(queue_outcomes_schema());
  all.push_back(clients_schema());
  all.push_back(media_schema());
  return all;
}

const std::vector<Schema>& schemas() {
  static const std::vector<Schema> all = build_schemas();
  return all;
}

// ---- columns -----------------------------------------------------------------------------

bool flattened(const Field& f) {
  return (f.types & kObject) && !f.free_form && !f.fields.empty();
}

void add_columns(const std::vector<Field>& fields, const std::string& prefix,
                 std::vector<std::string>& out, std::vector<std::string>* objects) {
  for (const Field& f : fields) {
    std::string name = prefix + f.name;
    if (flattened(f)) {
      if (objects) objects->push_back(name);
      add_columns(f.fields, name + ".", out, objects);
    } else {
      out.push_back(std::move(name));
    }
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// ---- JSON Schema -------------------------------------------------------------------------

void write_field_schema(base::JsonWriter& w, const Field& f);

void write_object_schema(base::JsonWriter& w, const std::vector<Field>& fields) {
  w.key("properties");
  w.begin_object();
  for (const Field& f : fields) {
    w.key(f.name);
    write_field_schema(w, f);
  }
  w.end_object();
  w.key("required");
  w.begin_array();
  for (const Field& f : fields)
    if (!f.optional) w.string(f.name);
  w.end_array();
}

void write_field_schema(base::JsonWriter& w, const Field& f) {
  w.begin_object();
  std::vector<std::string_view> types;
  if (f.types & kString) types.push_back("string");
  if (f.types & kNumber)
    types.push_back("number");
  else if (f.types & kInteger)
    types.push_back("integer");
  if (f.types & kBoolean) types.push_back("boolean");
  if (f.types & kObject) types.push_back("object");
  if (f.types & kArray) types.push_back("array");
  if (f.nullable) types.push_back("null");
  w.key("type");
  if (types.size() == 1) {
    w.string(types.front());
  } else {
    w.begin_array();
    for (auto t : types) w.string(t);
    w.end_array();
  }
  if (f.time) {
    w.key("format");
    w.string("date-time");
  }
  if (!f.fields.empty()) write_object_schema(w, f.fields);
  if (f.free_form) {
    w.key("additionalProperties");
    w.begin_object();
    w.key("type");
    w.string("string");
    w.end_object();
  }
  if (!f.items.empty()) {
    w.key("items");
    w.begin_object();
    w.key("type");
    w.string("object");
    write_object_schema(w, f.items);
    w.end_object();
  }
  w.end_object();
}

// ---- misfits -----------------------------------------------------------------------------

unsigned type_of(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::STRING:
      return kString;
    case element_type::INT64:
    case element_type::UINT64:
      return kInteger;
    case element_type::DOUBLE:
      return kNumber;
    case element_type::BOOL:
      return kBoolean;
    case element_type::OBJECT:
      return kObject;
    case element_type::ARRAY:
      return kArray;
    default:
      return 0;  // null
  }
}

void check_object(const std::vector<Field>& fields, simdjson::dom::object object,
                  const std::string& prefix, std::vector<std::string>& out);

void check_value(const Field& f, simdjson::dom::element value, const std::string& name,
                 std::vector<std::string>& out) {
  const unsigned type = type_of(value);
  const bool fits =
      type == 0 ? f.nullable : (f.types & type) || (type == kInteger && (f.types & kNumber));
  if (!fits) {
    out.push_back("field " + name + ": a value of a type the schema does not allow: " +
                  std::string(simdjson::minify(value)));
    return;
  }
  if (type == kObject && !f.fields.empty())
    check_object(f.fields, value.get_object(), name + ".", out);
  if (type == kArray && !f.items.empty())
    for (simdjson::dom::element item : value.get_array())
      if (item.is_object()) check_object(f.items, item.get_object(), name + "[].", out);
}

void check_object(const std::vector<Field>& fields, simdjson::dom::object object,
                  const std::string& prefix, std::vector<std::string>& out) {
  for (auto [key, value] : object) {
    const Field* f = find_field(fields, key);
    std::string name = prefix + std::string(key);
    if (!f)
      out.push_back("unknown field " + name);
    else
      check_value(*f, value, name, out);
  }
}

}  // namespace

const Field* find_field(const std::vector<Field>& fields, std::string_view name) {
  for (const Field& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

std::vector<std::string> Schema::columns() const {
  std::vector<std::string> out;
  add_columns(fields, "", out, nullptr);
  return out;
}

const std::vector<std::string>& schema_kinds() {
  static const std::vector<std::string> kinds = [] {
    std::vector<std::string> names;
    for (const Schema& s : schemas()) names.push_back(s.kind);
    return names;
  }();
  return kinds;
}

const Schema& schema_of(std::string_view kind) {
  for (const Schema& s : schemas())
    if (s.kind == kind) return s;
  throw std::invalid_argument("export " + std::string(kind) + " has no schema");
}

std::string json_schema(const Schema& schema) {
  std::string out;
  base::JsonWriter w(out);
  w.begin_object();
  w.key("$schema");
  w.string("https://json-schema.org/draft/2020-12/schema");
  w.key("title");
  w.string("plextap export " + schema.kind);
  w.key("description");
  w.string("One record of `plextap export " + schema.kind +
           "`. Properties are listed in CSV column order; nested objects become `a.b` columns, "
           "arrays and params one JSON cell.");
  w.key("type");
  w.string("object");
  write_object_schema(w, schema.fields);
  w.end_object();
  out += '\n';
  return out;
}

std::vector<std::string> select_columns(const Schema& schema, std::string_view comma_list) {
  std::vector<std::string> columns, objects;
  add_columns(schema.fields, "", columns, &objects);
  std::vector<std::string> names;
  while (!comma_list.empty()) {
    auto comma = comma_list.find(',');
    std::string_view name = trim(comma_list.substr(0, comma));
    comma_list =
        comma == std::string_view::npos ? std::string_view{} : comma_list.substr(comma + 1);
    if (name.empty()) continue;
    auto known = [&](const std::vector<std::string>& list) {
      return std::find(list.begin(), list.end(), name) != list.end();
    };
    if (!known(columns) && !known(objects)) {
      std::string closest;
      std::size_t best = std::string::npos;
      for (const auto* list : {&columns, &objects})
        for (const auto& c : *list)
          if (auto d = base::edit_distance(name, c); d < best) {
            best = d;
            closest = c;
          }
      throw std::invalid_argument("unknown column '" + std::string(name) + "' for export " +
                                  schema.kind + " (closest: " + closest + ")");
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) names.emplace_back(name);
  }
  return names;
}

std::vector<std::string> csv_columns(const Schema& schema, const std::vector<std::string>& names) {
  std::vector<std::string> all = schema.columns();
  if (names.empty()) return all;
  std::vector<std::string> out;
  for (const auto& name : names)
    for (const auto& c : all)
      if ((c == name || c.starts_with(name + ".")) &&
          std::find(out.begin(), out.end(), c) == out.end())
        out.push_back(c);
  return out;
}

std::vector<std::string> schema_misfits(const Schema& schema, std::string_view json) {
  std::vector<std::string> out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    out.push_back("not a JSON object");
    return out;
  }
  check_object(schema.fields, doc.get_object(), "", out);
  return out;
}

}  // namespace plextap::analytics
