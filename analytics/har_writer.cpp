#include "analytics/har_writer.hpp"

#include <string>

#include "base/json_writer.hpp"
#include "base/time.hpp"
#include "capture/body_decode.hpp"
#include "capture/event.hpp"
#include "capture/exchange.hpp"
#include "capture/query.hpp"
#include "capture/redact_exchange.hpp"

namespace plextap::analytics {
namespace {

using base::JsonWriter;
using capture::Exchange;
using capture::header_value;

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < in.size()) {
    unsigned n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Text HAR can carry as is: well-formed UTF-8 without control bytes other than line
// breaks and tabs. Anything else is written as base64.
bool valid_utf8_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;
      ++i;
      continue;
    }
    const std::size_t n = base::utf8_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void write_headers(JsonWriter& w, const std::vector<std::pair<std::string, std::string>>& headers) {
  w.key("headers");
  w.begin_array();
  for (const auto& [n, v] : headers) {
    w.begin_object();
    w.key("name");
    w.string(n);
    w.key("value");
    w.string(v);
    w.end_object();
  }
  w.end_array();
}

// HAR wants the content as the client saw it after decoding: text, or base64.
void write_content(JsonWriter& w, const Exchange& ex) {
  auto decoded = capture::decode_body(header_value(ex.response_headers, "Content-Encoding"),
                                      ex.response_body, std::size_t{64} << 20);
  const std::string& body = decoded.ok ? decoded.body : ex.response_body;
  w.key("content");
  w.begin_object();
  w.key("size");
  w.int64(static_cast<std::int64_t>(body.size()));
  w.key("mimeType");
  w.string(header_value(ex.response_headers, "Content-Type"));
  w.key("text");
  if (valid_utf8_text(body)) {
    w.string(body);
  } else {
    w.string(base64(body));
    w.key("encoding");
    w.string("base64");
  }
  if (ex.response_truncated) {
    w.key("comment");
    w.string("truncated by plextap's body cap");
  }
  w.end_object();
}

void write_entry(JsonWriter& w, std::uint64_t id, std::uint8_t kind, const Exchange& ex) {
  const std::string_view host = header_value(ex.request_headers, "Host");
  std::string url = ex.tls ? "https://" : "http://";
  url += host.empty() ? "plex" : host;
  url += ex.target;
  w.begin_object();
  w.key("startedDateTime");
  w.string(base::rfc3339_ms(ex.ts_ms));
  w.key("time");
  w.number(static_cast<double>(ex.latency_us) / 1000.0);
  w.key("request");
  w.begin_object();
  w.key("method");
  w.string(ex.method);
  w.key("url");
  w.string(url);
  w.key("httpVersion");
  w.string("HTTP/1.1");
  w.key("cookies");
  w.begin_array();
  w.end_array();
  write_headers(w, ex.request_headers);
  w.key("queryString");
  w.begin_array();
  for (const auto& p : capture::decode_query(ex.target)) {
    w.begin_object();
    w.key("name");
    w.string(p.name);
    w.key("value");
    w.string(p.value);
    w.end_object();
  }
  w.end_array();
  if (!ex.request_body.empty()) {
    w.key("postData");
    w.begin_object();
    w.key("mimeType");
    w.string(header_value(ex.request_headers, "Content-Type"));
    w.key("text");
    w.string(valid_utf8_text(ex.request_body) ? ex.request_body : base64(ex.request_body));
    w.end_object();
  }
  w.key("headersSize");
  w.int64(-1);
  w.key("bodySize");
  w.int64(static_cast<std::int64_t>(ex.request_body.size()));
  w.end_object();
  w.key("response");
  w.begin_object();
  w.key("status");
  w.int64(ex.status);
  w.key("statusText");
  w.string("");
  w.key("httpVersion");
  w.string("HTTP/1.1");
  w.key("cookies");
  w.begin_array();
  w.end_array();
  write_headers(w, ex.response_headers);
  write_content(w, ex);
  w.key("redirectURL");
  w.string(header_value(ex.response_headers, "Location"));
  w.key("headersSize");
  w.int64(-1);
  w.key("bodySize");
  w.int64(static_cast<std::int64_t>(ex.response_body.size()));
  w.end_object();
  w.key("cache");
  w.begin_object();
  w.end_object();
  w.key("timings");
  w.begin_object();
  w.key("send");
  w.int64(0);
  w.key("wait");
  w.number(static_cast<double>(ex.latency_us) / 1000.0);
  w.key("receive");
  w.int64(0);
  w.end_object();
  w.key("serverIPAddress");
  w.string("");
  w.key("_plextap");
  w.begin_object();
  w.key("id");
  w.uint64(id);
  w.key("kind");
  w.int64(kind);
  w.key("remote_addr");
  w.string(ex.remote_addr);
  w.end_object();
  w.end_object();
}

}  // namespace

std::uint64_t export_har(store::Store& store, const ExportOptions& options, std::FILE* out) {
  auto kinds = kinds_of_export(options.kind == "har" ? "events" : options.kind);
  store::EventFilter filter;
  filter.since_ms = options.since_ms;
  filter.until_ms = options.until_ms;
  std::string buf =
      R"({"log":{"version":"1.2","creator":{"name":"plextap","version":"0.1.0"},"pages":[],"entries":[)";
  std::uint64_t written = 0;
  const std::string client_prefix =
      options.client.empty() ? "" : capture::stored_client_prefix(options.client);
  store.for_each_event(filter, [&](const store::StoredEvent& e) {
    if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), e.kind) == kinds.end()) return true;
    if (!client_prefix.empty() && e.json.find(client_prefix) == std::string_view::npos) return true;
    auto raw = store.exchange(e.id);
    if (!raw) {
      if (e.has_exchange) store.note_damage("exchange " + std::to_string(e.id) + ": missing");
      return true;
    }
    auto ex = capture::read_stored_exchange(*raw);
    if (!ex) {
      store.note_damage("exchange " + std::to_string(e.id) + ": not intact");
      return true;
    }
    if (written++) buf += ',';
    base::JsonWriter w(buf);
    write_entry(w, e.id, e.kind, *ex);
    if (buf.size() > (1 << 20)) {
      std::fwrite(buf.data(), 1, buf.size(), out);
      buf.clear();
    }
    return true;
  });
  buf += "]}}\n";
  std::fwrite(buf.data(), 1, buf.size(), out);
  std::fflush(out);
  return written;
}

}  // namespace plextap::analytics
