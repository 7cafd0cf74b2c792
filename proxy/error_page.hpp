// The body of an answer the proxy gives itself (400, 431, 502, 504): short XML in the
// shape Plex clients already parse for server errors.
#pragma once

#include <string>
#include <string_view>

namespace plextap::proxy {

inline std::string error_page(unsigned status, std::string_view reason) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response code=\"";
  out += std::to_string(status);
  out += "\" status=\"";
  for (char c : reason) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  out += "\" source=\"plextap\"/>\n";
  return out;
}

}  // namespace plextap::proxy
