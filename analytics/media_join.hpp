// Joins what enrichment stored onto exported events: the media object of the event's
// rating key in place of its "media":null, and the account the server named for its client
// in its `user` object. Lookups are cached (items and clients repeat across events) and
// bounded; damaged entries are left out and counted as damage.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include "store/store.hpp"

namespace plextap::analytics {

class MediaJoin {
 public:
  explicit MediaJoin(store::Store& store) : store_(store) {}

  // The media JSON of a rating key, or "".
  const std::string& media(std::string_view rating_key);
  // Appends the stored event `json` (from its first field on) with media and account joined.
  void append_event(std::string& out, std::string_view json);

 private:
  const std::string& account_fields(std::string_view client_id);
  void append_joined_media(std::string& out, std::string_view json, std::string_view rating_key);

  store::Store& store_;
  std::unordered_map<std::string, std::string> media_;
  std::unordered_map<std::string, std::string> accounts_;
};

}  // namespace plextap::analytics
