// `plextap export media`: the enrichment table, one record per rating key, the key first.
#include <simdjson.h>

#include "analytics/export.hpp"
#include "base/json_writer.hpp"

namespace plextap::analytics {

std::uint64_t export_media(store::Store& store, const ExportOptions& options, std::FILE* out) {
  auto sink = open_sink(options, out);
  simdjson::dom::parser parser;
  std::string json;
  // The record of one entry in `json`; false (the entry left out) when it is damaged.
  auto record = [&](std::string_view key, std::string_view value) {
    auto doc = parser.parse(value.data(), value.size());
    if (doc.error() || !doc.value().is_object()) return false;
    json = media_record(key, value);
    return true;
  };
  store.for_each_media([&](std::string_view key, std::string_view value) {
    if (record(key, value))
      sink->write(json);
    else
      store.note_damage("the media entry of rating key " + std::string(key) + ": not JSON");
    return true;
  });
  sink->flush();
  return sink->written();
}

std::string media_record(std::string_view rating_key, std::string_view value) {
  std::string json = "{\"rating_key\":";
  base::append_json_string(json, rating_key);
  if (value.size() > 2) json += ',';
  json.append(value.substr(1));
  return json;
}

}  // namespace plextap::analytics
