#include "enrich/dynamic_range.hpp"

#include <string_view>

namespace plextap::enrich {

using capture::detail::Node;
using capture::detail::Scalar;

DynamicRange dynamic_range(const Node& video) {
  if (!video) return {};
  using capture::detail::to_bool;
  if (to_bool(video.get("DOVIPresent")).value_or(false))
    return {"dolby_vision", capture::detail::to_int(video.get("DOVIProfile"))};
  // String values only: a flag or a number is never a transfer characteristic.
  Scalar trc_value = video.get("colorTrc");
  std::string_view trc = trc_value.type == Scalar::Type::string ? trc_value.text : "";
  if (trc == "smpte2084") return {"hdr10", std::nullopt};
  if (trc == "arib-std-b67") return {"hlg", std::nullopt};
  return {};
}

Node video_stream(const Node& media) {
  for (const Node& part : media.children({"Part"}))
    for (const Node& s : part.children({"Stream"}))
      if (capture::detail::to_int(s.get("streamType")) == 1) return s;
  return {};
}

}  // namespace plextap::enrich
