// Play-queue calls: the request's queue options and the answer's queue state and items.
#include "capture/parse.hpp"
#include "capture/parse_doc.hpp"

namespace plextap::capture::detail {
namespace {

// {id} of /playQueues/{id}[/...]; empty for /playQueues.
std::string_view queue_id_of(std::string_view path) {
  constexpr std::string_view kPrefix = "/playQueues/";
  if (!path.starts_with(kPrefix)) return {};
  auto rest = path.substr(kPrefix.size());
  return rest.substr(0, rest.find('/'));
}

}  // namespace

std::string parse_playqueue(const Request& req, const Node& c, JsonWriter& out) {
  Scalar path_id = text_scalar(queue_id_of(req.path));
  put_id(out, "play_queue_id", path_id.present() ? path_id : c.get("playQueueID"));

  // The queue's source is the `uri` of a create; on every other call (where `uri`, if any,
  // is an item being added) it is what the answer reports.
  Scalar uri = param(req.params, "uri");
  Scalar source = c.get("playQueueSourceURI");
  put_string(out, "source_uri", req.op == "create" || !source.present() ? uri : source);
  put_string(out, "type", param(req.params, "type"));
  put_bool(out, "shuffle", param(req.params, "shuffle"));
  put_number(out, "repeat", param(req.params, "repeat"));  // 0, 1 or 2: not a flag
  put_bool(out, "continuous", param(req.params, "continuous"));
  put_bool(out, "own", param(req.params, "own"));

  put_number(out, "total_count", c.get("playQueueTotalCount"));
  put_id(out, "selected_item_id", c.get("playQueueSelectedItemID"));
  put_string(out, "selected_rating_key", c.get("playQueueSelectedMetadataItemID"));
  put_number(out, "version", c.get("playQueueVersion"));
  put_bool(out, "shuffled", c.get("playQueueShuffled"));
  out.key("items");
  if (!c) {
    out.null();
  } else {
    out.begin_array();
    std::size_t n = 0;
    for (const Node& item : c.children(kItemNames)) {
      if (n++ == kMaxQueueItems) break;
      Scalar rk = item.get("ratingKey");
      if (rk.present())
        out.string(to_text(rk));
      else
        out.null();
    }
    out.end_array();
  }

  // The item the call names: the one queued (create, add), or the `key` to start at.
  if (uri.present())
    if (auto rk = rating_key_from(uri.text); !rk.empty()) return rk;
  if (const std::string* key = find_param(req.params, "key")) return rating_key_from(*key);
  return {};
}

}  // namespace plextap::capture::detail
