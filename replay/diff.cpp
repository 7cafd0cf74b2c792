#include "replay/diff.hpp"

#include <simdjson.h>

#include <algorithm>

#include "capture/classify.hpp"
#include "capture/event.hpp"

namespace plextap::replay {
namespace {

constexpr std::string_view kNotCompared[] = {"id",          "ts",     "latency_ms", "status",
                                             "remote_addr", "user",   "client",     "params",
                                             "media",       "method", "path"};

std::string text_of(simdjson::dom::element e) {
  return simdjson::minify(e);
}

void diff_objects(simdjson::dom::object then, simdjson::dom::object now, const std::string& prefix,
                  bool top, std::vector<FieldDiff>& out) {
  auto compared = [&](std::string_view key) {
    return !top || std::find(std::begin(kNotCompared), std::end(kNotCompared), key) ==
                       std::end(kNotCompared);
  };
  for (auto [key, value] : then) {
    if (!compared(key)) continue;
    std::string name = prefix + std::string(key);
    simdjson::dom::element other;
    if (now[key].get(other)) {
      out.push_back({name, text_of(value), "absent"});
      continue;
    }
    simdjson::dom::object a, b;
    if (!value.get(a) && !other.get(b)) {
      diff_objects(a, b, name + ".", false, out);
      continue;
    }
    std::string x = text_of(value), y = text_of(other);
    if (x != y) out.push_back({name, std::move(x), std::move(y)});
  }
  for (auto [key, value] : now) {
    if (!compared(key)) continue;
    simdjson::dom::element ignored;
    if (then[key].get(ignored))
      out.push_back({prefix + std::string(key), "absent", text_of(value)});
  }
}

}  // namespace

std::vector<FieldDiff> diff_event_fields(std::string_view then_json, std::string_view now_json) {
  simdjson::dom::parser a, b;
  simdjson::dom::object then, now;
  std::vector<FieldDiff> out;
  if (a.parse(then_json.data(), then_json.size()).get(then) ||
      b.parse(now_json.data(), now_json.size()).get(now)) {
    if (then_json != now_json)
      out.push_back({"(record)", std::string(then_json), std::string(now_json)});
    return out;
  }
  diff_objects(then, now, "", true, out);
  return out;
}

std::optional<std::string> event_fields(const capture::Exchange& exchange) {
  auto route = capture::classify(exchange.method, exchange.target);
  if (!route) return std::nullopt;
  capture::CapturedExchange captured;
  captured.route = route;
  captured.exchange = exchange;
  return capture::build_record(std::move(captured)).json;
}

}  // namespace plextap::replay
