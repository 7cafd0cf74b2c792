#include "capture/event.hpp"

#include "base/json_writer.hpp"
#include "base/time.hpp"
#include "capture/body_decode.hpp"
#include "capture/client_info.hpp"
#include "capture/parse.hpp"
#include "capture/query.hpp"
#include "capture/redact_exchange.hpp"
#include "capture/text.hpp"

namespace plextap::capture {
namespace {

std::string_view header(const std::vector<std::pair<std::string, std::string>>& headers,
                        std::string_view name) {
  for (const auto& [n, v] : headers)
    if (iequals(n, name)) return v;
  return {};
}

void string_or_null(base::JsonWriter& w, std::string_view key, const std::string& value) {
  w.key(key);
  if (value.empty())
    w.null();
  else
    w.string(value);
}

}  // namespace

store::Record build_record(CapturedExchange captured) {
  Exchange& ex = captured.exchange;
  // First of all: from here on, the event and the stored exchange are built from the
  // redacted exchange only, and the parsers read the redacted response body.
  const Decoded response = redact_exchange(ex, kMaxCheckedBody);
  store::Record record;
  record.kind = static_cast<std::uint8_t>(captured.route ? captured.route->kind : Kind::other);
  record.ts_ms = ex.ts_ms;
  if (ex.request_truncated || ex.response_truncated) record.flags |= kFlagTruncated;
  if (!captured.complete) record.flags |= kFlagIncomplete;

  auto params = decode_query(ex.target);
  strip_token(params);
  std::vector<Header> headers;
  headers.reserve(ex.request_headers.size());
  for (const auto& [n, v] : ex.request_headers) headers.push_back({n, v});
  ClientInfo client = client_info(headers, params);

  std::string& out = record.json;
  out.reserve(1024);
  base::JsonWriter w(out);
  w.begin_object();
  w.key("ts");
  w.string(base::rfc3339_ms(ex.ts_ms));
  w.key("kind");
  w.string(captured.route ? to_string(captured.route->kind) : "other");
  w.key("op");
  if (captured.route && !captured.route->op.empty())
    w.string(captured.route->op);
  else
    w.null();
  w.key("method");
  w.string(ex.method);
  w.key("path");
  w.string(path_of(ex.target));
  w.key("params");
  w.begin_object();
  for (const auto& p : params) {
    w.key(p.name);
    w.string(p.value);
  }
  w.end_object();
  w.key("status");
  if (ex.status)
    w.int64(ex.status);
  else
    w.null();
  w.key("latency_ms");
  w.number(static_cast<double>(ex.latency_us) / 1000.0);
  w.key("client");
  w.begin_object();
  string_or_null(w, "id", client.id);
  string_or_null(w, "product", client.product);
  string_or_null(w, "version", client.version);
  string_or_null(w, "platform", client.platform);
  string_or_null(w, "platform_version", client.platform_version);
  string_or_null(w, "device", client.device);
  string_or_null(w, "device_name", client.device_name);
  string_or_null(w, "device_vendor", client.device_vendor);
  string_or_null(w, "model", client.model);
  string_or_null(w, "session", client.session);
  w.end_object();
  w.key("user");
  w.begin_object();
  string_or_null(w, "token_fp", captured.token_fp);
  w.end_object();
  string_or_null(w, "remote_addr", ex.remote_addr);

  if (captured.route) {
    // Parse into a side buffer first: the rating key it finds goes before the kind fields.
    std::string fields;
    base::JsonWriter fw(fields);
    fw.begin_object();
    ParseResult parsed;
    if (!response.ok) {
      parsed.parse_error = "cannot decode response body: " + response.error;
    } else {
      parsed = parse_fields(*captured.route, path_of(ex.target), params, ex.status,
                            header(ex.response_headers, "Content-Type"), response.body, fw,
                            client.session);
    }
    fw.end_object();
    record.rating_key = parsed.rating_key;
    string_or_null(w, "rating_key", parsed.rating_key);
    // Splice the kind's fields (without their braces) into this object.
    if (fields.size() > 2) {
      out += ',';
      out.append(fields, 1, fields.size() - 2);
    }
    if (!parsed.parse_error.empty()) {
      record.flags |= kFlagParseError;
      w.key("parse_error");
      w.string(parsed.parse_error);
    }
  } else {
    w.key("rating_key");
    w.null();
  }
  if (record.flags & kFlagTruncated) {
    w.key("truncated");
    w.boolean(true);
  }
  w.key("media");
  w.null();
  w.end_object();
  record.exchange = encode_exchange(ex);
  return record;
}

}  // namespace plextap::capture
