// Searches: what was asked, and which hubs and rows came back, in the order shown.
#include "capture/parse.hpp"
#include "capture/parse_doc.hpp"

namespace plextap::capture::detail {

void parse_search(const Request& req, const Node& c, JsonWriter& out) {
  put_string(out, "query", param(req.params, "query"));
  put_number(out, "limit", param(req.params, "limit"));
  Scalar section = param(req.params, "sectionId");
  constexpr std::string_view kSections = "/library/sections/";
  if (!section.present() && req.path.starts_with(kSections)) {
    auto rest = req.path.substr(kSections.size());
    section = text_scalar(rest.substr(0, rest.find('/')));
  }
  put_id(out, "section_id", section);

  if (!c) {
    put_null(out, "hubs");
    put_null(out, "result_count");
    put_null(out, "results");
    return;
  }

  // /hubs/search answers with hubs of rows; /library/sections/{id}/search with rows only.
  auto hubs = c.children({"Hub"});
  std::vector<Node> rows;
  out.key("hubs");
  out.begin_array();
  for (std::size_t i = 0; i < hubs.size(); ++i) {
    auto hub_rows = hubs[i].children(kItemNames);
    rows.insert(rows.end(), hub_rows.begin(), hub_rows.end());
    if (i >= kMaxSearchHubs) continue;
    out.begin_object();
    put_string(out, "hub_identifier", hubs[i].get("hubIdentifier"));
    put_string(out, "type", hubs[i].get("type"));
    put_number(out, "size", hubs[i].get("size"));
    put_bool(out, "more", hubs[i].get("more"));
    out.end_object();
  }
  out.end_array();
  if (hubs.empty()) rows = c.children(kItemNames);

  out.key("result_count");
  out.int64(static_cast<std::int64_t>(rows.size()));
  out.key("results");
  out.begin_array();
  for (std::size_t i = 0; i < rows.size() && i < kMaxSearchResults; ++i) {
    out.begin_object();
    put_string(out, "rating_key", rows[i].get("ratingKey"));
    put_string(out, "type", rows[i].get("type"));
    // People, genres and collections are tag rows: their name is `tag`, not `title`.
    Scalar title = rows[i].get("title");
    put_string(out, "title", title.present() ? title : rows[i].get("tag"));
    out.end_object();
  }
  out.end_array();
}

}  // namespace plextap::capture::detail
