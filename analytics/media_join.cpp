#include "analytics/media_join.hpp"

#include "capture/enrichment_record.hpp"
#include "capture/event.hpp"

namespace plextap::analytics {
namespace {
constexpr std::size_t kMaxCached = 100'000;  // bounds memory on huge libraries
}

const std::string& MediaJoin::media(std::string_view rating_key) {
  auto it = media_.find(std::string(rating_key));
  if (it != media_.end()) return it->second;
  if (media_.size() > kMaxCached) media_.clear();
  std::string media;
  if (auto stored = store_.media(rating_key)) {
    if (auto entry = capture::MediaEntry::decode(*stored))
      media = std::move(entry->media_json);
    else
      store_.note_damage("the media entry of rating key " + std::string(rating_key) + ": not JSON");
  }
  return media_.emplace(std::string(rating_key), std::move(media)).first->second;
}

const std::string& MediaJoin::account_fields(std::string_view client_id) {
  auto it = accounts_.find(std::string(client_id));
  if (it != accounts_.end()) return it->second;
  if (accounts_.size() > kMaxCached) accounts_.clear();
  std::string fields;
  if (auto stored = store_.account(client_id)) {
    if (auto user = capture::account_user_fields(*stored))
      fields = std::move(*user);
    else
      store_.note_damage("the account of client " + std::string(client_id) + ": not JSON");
  }
  return accounts_.emplace(std::string(client_id), std::move(fields)).first->second;
}

void MediaJoin::append_event(std::string& out, std::string_view json) {
  const capture::StoredPlaces places = capture::stored_places(json);
  const std::string* fields =
      places.client_id.empty() || places.user_named ? nullptr : &account_fields(places.client_id);
  if (fields && !fields->empty() && places.user_end != std::string_view::npos) {
    // The account goes at the end of `user`; the media at the end of the record.
    out.append(json.substr(0, places.user_end));
    out += *fields;
    json.remove_prefix(places.user_end);
  }
  append_joined_media(out, json, places.rating_key);
}

void MediaJoin::append_joined_media(std::string& out, std::string_view json,
                                    std::string_view rating_key) {
  if (!rating_key.empty() && json.ends_with(capture::kStoredMediaTail)) {
    const std::string& joined = media(rating_key);
    if (!joined.empty()) {
      out.append(json.substr(0, json.size() - capture::kStoredMediaTail.size()));
      out += "\"media\":";
      out += joined;
      out += '}';
      return;
    }
  }
  out.append(json);
}

}  // namespace plextap::analytics
