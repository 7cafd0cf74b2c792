// HAR import (parse_har of replay/source.hpp): a pure function of the text, kept apart
// from the loaders so that the fuzz target needs only this file, the time parser and redaction.
#include <simdjson.h>

#include <algorithm>

#include "base/time.hpp"
#include "capture/redact.hpp"
#include "capture/text.hpp"
#include "replay/source.hpp"
namespace plextap::replay {
namespace {

// Strict base64 (RFC 4648, padding optional): null on any other byte.
std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  while (!in.empty() && (in.back() == '=' || in.back() == '\n' || in.back() == '\r'))
    in.remove_suffix(1);
  std::string out;
  out.reserve(in.size() / 4 * 3 + 3);
  unsigned bits = 0;
  int count = 0;
  for (char c : in) {
    if (c == '\n' || c == '\r') continue;
    int v = value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<unsigned>(v);
    if (++count == 4) {
      out += static_cast<char>((bits >> 16) & 0xff);
      out += static_cast<char>((bits >> 8) & 0xff);
      out += static_cast<char>(bits & 0xff);
      bits = 0;
      count = 0;
    }
  }
  if (count == 1) return std::nullopt;
  if (count == 2) out += static_cast<char>((bits >> 4) & 0xff);
  if (count == 3) {
    out += static_cast<char>((bits >> 10) & 0xff);
    out += static_cast<char>((bits >> 2) & 0xff);
  }
  return out;
}

class HarReader {
 public:
  explicit HarReader(std::string_view name) : name_(name) {}

  std::vector<RecordedExchange> read(std::string_view text) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(text);
    simdjson::dom::element root;
    if (auto error = parser.parse(padded).get(root))
      fail("not a HAR file: not valid JSON (" + std::string(simdjson::error_message(error)) + ")");
    simdjson::dom::object log;
    if (root["log"].get(log)) fail("not a HAR file: no \"log\" object");
    std::string_view version;
    if (log["version"].get(version)) fail("not a HAR file: log.version is missing");
    if (version != "1.2" && version != "1.1")
      fail("unknown HAR version \"" + std::string(version) + "\" (1.1 and 1.2 are read)");
    simdjson::dom::array entries;
    if (log["entries"].get(entries)) fail("not a HAR file: log.entries is not an array");

    std::vector<RecordedExchange> out;
    std::uint64_t position = 0;
    for (simdjson::dom::element entry : entries) {
      ++position;
      if (auto ex = read_entry(entry, position)) out.push_back(std::move(*ex));
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return a.exchange.ts_ms < b.exchange.ts_ms;
    });
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw SourceError(std::string(name_) + ": " + why);
  }
  [[noreturn]] void fail_entry(std::uint64_t position, const std::string& why) const {
    fail("entry " + std::to_string(position) + ": " + why);
  }

  std::string_view string_at(simdjson::dom::object obj, std::string_view key,
                             std::uint64_t position, std::string_view where) const {
    std::string_view s;
    if (obj[key].get(s)) fail_entry(position, std::string(where) + " is missing");
    return s;
  }

  std::vector<std::pair<std::string, std::string>> headers(simdjson::dom::object message,
                                                           std::uint64_t position) const {
    std::vector<std::pair<std::string, std::string>> out;
    simdjson::dom::array list;
    if (message["headers"].get(list)) return out;  // required by HAR, absent in some tools
    for (simdjson::dom::element h : list) {
      std::string_view name, value;
      if (h["name"].get(name) || h["value"].get(value))
        fail_entry(position, "a header without name or value");
      // HTTP/2 pseudo-headers (":authority", ":path") are not HTTP/1.1 fields.
      if (name.empty() || name.front() == ':') continue;
      out.emplace_back(name, value);
    }
    return out;
  }

  std::optional<RecordedExchange> read_entry(simdjson::dom::element element,
                                             std::uint64_t position) const {
    simdjson::dom::object entry, request, response;
    if (element.get(entry)) fail_entry(position, "not an object");
    if (entry["request"].get(request)) fail_entry(position, "no request");
    if (entry["response"].get(response)) fail_entry(position, "no response");

    RecordedExchange r;
    r.id = position;
    r.body_decoded = true;
    capture::Exchange& ex = r.exchange;
    auto started =
        base::parse_rfc3339_ms(string_at(entry, "startedDateTime", position, "startedDateTime"));
    if (!started) fail_entry(position, "startedDateTime is not an RFC 3339 time");
    ex.ts_ms = *started;
    double time_ms = 0;
    if (!entry["time"].get(time_ms) && time_ms > 0)
      ex.latency_us = static_cast<std::uint64_t>(time_ms * 1000.0);

    ex.method = string_at(request, "method", position, "request.method");
    std::string_view url = string_at(request, "url", position, "request.url");
    auto scheme_end = url.find("://");
    if (ex.method.empty() || scheme_end == std::string_view::npos)
      fail_entry(position, "request.url is not an absolute URL");
    ex.tls = capture::istarts_with(url, "https");
    auto authority_begin = scheme_end + 3;
    auto path_begin = url.find_first_of("/?#", authority_begin);
    std::string_view authority = url.substr(authority_begin, path_begin == std::string_view::npos
                                                                 ? std::string_view::npos
                                                                 : path_begin - authority_begin);
    ex.target = path_begin == std::string_view::npos ? "/" : std::string(url.substr(path_begin));
    if (ex.target.front() != '/') ex.target.insert(0, "/");
    if (auto hash = ex.target.find('#'); hash != std::string::npos) ex.target.resize(hash);
    ex.request_headers = headers(request, position);
    bool has_host = std::any_of(ex.request_headers.begin(), ex.request_headers.end(),
                                [](const auto& h) { return capture::iequals(h.first, "Host"); });
    if (!has_host && !authority.empty()) ex.request_headers.emplace_back("Host", authority);
    simdjson::dom::object post;
    std::string_view post_text;
    if (!request["postData"].get(post) && !post["text"].get(post_text)) ex.request_body = post_text;

    std::int64_t status = 0;
    if (response["status"].get(status)) fail_entry(position, "response.status is missing");
    // Browsers list requests that never got an answer (blocked, cancelled) with status 0.
    if (status < 100 || status > 999) return std::nullopt;
    ex.status = static_cast<unsigned>(status);
    // HAR content is the decoded body: the framing and encoding headers no longer apply.
    for (auto& h : headers(response, position))
      if (!capture::iequals(h.first, "Content-Encoding") &&
          !capture::iequals(h.first, "Content-Length") &&
          !capture::iequals(h.first, "Transfer-Encoding"))
        ex.response_headers.push_back(std::move(h));
    simdjson::dom::object content;
    std::string_view text, encoding;
    if (!response["content"].get(content) && !content["text"].get(text)) {
      if (!content["encoding"].get(encoding) && encoding == "base64") {
        auto decoded = base64_decode(text);
        if (!decoded) fail_entry(position, "response.content.text is not valid base64");
        ex.response_body = std::move(*decoded);
      } else {
        ex.response_body = text;
      }
      std::string_view comment;
      if (!content["comment"].get(comment) && comment.find("truncated") != std::string_view::npos)
        ex.response_truncated = true;
    }
    simdjson::dom::object ours;
    std::string_view remote;
    if (!entry["_plextap"].get(ours) && !ours["remote_addr"].get(remote)) ex.remote_addr = remote;
    redact(ex);
    return r;
  }

  // A HAR from a browser or another recorder holds the token in the clear: it is
  // redacted here by the recorder's rules (the target, every header value, and the
  // bodies, which a HAR holds decoded), so that nothing downstream (an answer, a report,
  // a 404 body, a log line) can show it. The value is "REDACTED" without a fingerprint:
  // there is no installation secret to take one with.
  static void redact(capture::Exchange& ex) {
    ex.target = capture::redact_target(ex.target);
    auto redact_headers = [](std::vector<std::pair<std::string, std::string>>& headers) {
      for (auto& [name, value] : headers) {
        if (capture::is_secret_header(name)) {
          if (value != capture::kRedacted &&
              !value.starts_with(std::string(capture::kRedacted) + ":"))
            value = capture::kRedacted;
        } else {
          value = capture::redact_target(value);
        }
      }
    };
    redact_headers(ex.request_headers);
    redact_headers(ex.response_headers);
    for (auto* body : {&ex.request_body, &ex.response_body})
      if (auto redacted = capture::redact_body(*body)) *body = std::move(*redacted);
  }

  std::string_view name_;
};

}  // namespace

std::vector<RecordedExchange> parse_har(std::string_view text, std::string_view name) {
  return HarReader(name).read(text);
}

}  // namespace plextap::replay
