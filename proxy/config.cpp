#include "proxy/config.hpp"

#include <boost/asio/ip/address.hpp>
#include <charconv>
#include <stdexcept>

namespace plextap::proxy {
namespace {

std::uint16_t parse_port(std::string_view s, const std::string& whole) {
  unsigned value = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || p != s.data() + s.size() || value > 65535)
    throw std::invalid_argument("bad port in '" + whole + "'");
  return static_cast<std::uint16_t>(value);
}

Endpoint split_host_port(std::string_view rest, std::uint16_t default_port,
                         const std::string& whole) {
  Endpoint e;
  e.port = default_port;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("bad address '" + whole + "'");
    e.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') throw std::invalid_argument("bad address '" + whole + "'");
      e.port = parse_port(rest.substr(1), whole);
    }
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      e.host = std::string(rest);
    } else {
      e.host = std::string(rest.substr(0, colon));
      e.port = parse_port(rest.substr(colon + 1), whole);
    }
  }
  if (e.host.empty()) throw std::invalid_argument("no host in '" + whole + "'");
  return e;
}

}  // namespace

Endpoint parse_endpoint_url(const std::string& url) {
  std::string_view s = url;
  bool tls;
  if (s.starts_with("https://")) {
    tls = true;
    s.remove_prefix(8);
  } else if (s.starts_with("http://")) {
    tls = false;
    s.remove_prefix(7);
  } else {
    throw std::invalid_argument("'" + url + "' is not an http:// or https:// URL");
  }
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  if (s.find('/') != std::string_view::npos)
    throw std::invalid_argument("'" + url + "' must not have a path");
  Endpoint e = split_host_port(s, tls ? 443 : 80, url);
  e.tls = tls;
  return e;
}

Endpoint parse_host_port(const std::string& text) {
  Endpoint e = split_host_port(text, 0, text);
  if (text.find(':') == std::string::npos) throw std::invalid_argument("no port in '" + text + "'");
  return e;
}

std::string to_string(const Endpoint& e) {
  std::string host = e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host;
  return std::string(e.tls ? "https://" : "http://") + host + ":" + std::to_string(e.port);
}

bool is_loopback(const Endpoint& e) {
  if (e.host == "localhost") return true;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(e.host, ec);
  return !ec && address.is_loopback();
}

}  // namespace plextap::proxy
