#include "replay/stand_in.hpp"

#include <spdlog/spdlog.h>

#include "base/prometheus.hpp"
#include "capture/body_decode.hpp"
#include "capture/redact.hpp"
#include "capture/text.hpp"
#include "replay/recorded_head.hpp"

namespace plextap::replay {
namespace {

constexpr std::string_view kRecorderCut =
    "X-Plextap-Truncated: the body was cut at the recorder's body cap\r\n";

std::shared_ptr<const proxy::LocalReply> make_reply(const RecordedExchange& r,
                                                    const RecordedHead& head, std::string body) {
  auto reply = std::make_shared<proxy::LocalReply>();
  reply->status = r.exchange.status;
  reply->head = head.head + "X-Plextap-Replayed: " + std::to_string(r.id) + "\r\n";
  reply->head_has_length = head.has_length;
  if (r.exchange.response_truncated) reply->head += kRecorderCut;
  reply->body = std::move(body);
  return reply;
}

// Whether an Accept-Encoding value admits `coding`: listed (or `*`) without q=0.
bool accepts(std::string_view accept_encoding, std::string_view coding) {
  bool star = false, named = false, named_refused = false;
  while (!accept_encoding.empty()) {
    auto comma = accept_encoding.find(',');
    std::string_view item = accept_encoding.substr(0, comma);
    accept_encoding.remove_prefix(comma == std::string_view::npos ? accept_encoding.size()
                                                                  : comma + 1);
    auto semi = item.find(';');
    std::string_view name = item.substr(0, semi), params;
    if (semi != std::string_view::npos) params = item.substr(semi + 1);
    auto trim = [](std::string_view v) {
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return v;
    };
    name = trim(name);
    params = trim(params);
    bool refused = false;
    if (capture::istarts_with(params, "q=")) {
      std::string_view q = params.substr(2);
      refused = !q.empty() && q.find_first_not_of("0.") == std::string_view::npos;
    }
    if (capture::iequals(name, coding)) {
      named = true;
      named_refused = refused;
    } else if (name == "*" && !refused) {
      star = true;
    }
  }
  return named ? !named_refused : star;
}

}  // namespace

StandIn::StandIn(std::vector<RecordedExchange> recorded, MatchRules rules)
    : rules_(std::move(rules)) {
  for (auto& r : recorded) {
    capture::Exchange& ex = r.exchange;
    if (!is_valid_status(ex.status)) {
      ++invalid_exchanges_;
      continue;
    }
    if (ex.status < 200) continue;  // 101 began a tunnel: nothing to replay
    Answer answer;
    std::string encoding;
    if (!r.body_decoded) encoding = capture::header_value(ex.response_headers, "Content-Encoding");
    if (capture::iequals(encoding, "identity") || !is_field_value(encoding)) encoding.clear();
    auto head = recorded_head(ex, true);
    invalid_headers_ += head.invalid;
    if (!encoding.empty() && !ex.response_body.empty()) {
      answer.encoding = encoding;
      answer.identity_head =
          recorded_head(ex, false).head + "X-Plextap-Replayed: " + std::to_string(r.id) + "\r\n";
      answer.recorded_truncated = ex.response_truncated;
    }
    answer.as_recorded = make_reply(r, head, std::move(ex.response_body));
    ex.response_body = {};
    auto& slot = answers_[match_key(ex.method, ex.target, rules_)];
    if (!slot) slot = std::make_unique<Answers>();
    slot->in_order.push_back(std::move(answer));
    ++exchanges_;
  }
}

std::shared_ptr<const proxy::LocalReply> StandIn::respond(const proxy::LocalRequest& request) {
  auto it = answers_.find(match_key(request.method, request.target, rules_));
  // A HEAD nobody recorded is answered like the GET (the session sends no body), without
  // using up one of the GET's answers.
  bool peek = false;
  if (it == answers_.end() && request.method == "HEAD") {
    it = answers_.find(match_key("GET", request.target, rules_));
    peek = true;
  }
  if (it == answers_.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    std::string what = capture::redact_target(describe_key(request.method, request.target, rules_));
    log_miss(what);
    auto reply = std::make_shared<proxy::LocalReply>();
    reply->status = 404;
    reply->head = status_line(404) +
                  "Content-Type: text/xml; charset=utf-8\r\nServer: plextap\r\n"
                  "X-Plextap-Replay-Miss: 1\r\n";
    reply->body = proxy::error_page(404, "no recorded exchange matches " + what +
                                             " (matched on method, path and query; X-Plex-* "
                                             "parameters, time, playbackTime and _ ignored)");
    return reply;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  Answers& answers = *it->second;
  std::size_t n = peek ? answers.served.load(std::memory_order_relaxed)
                       : answers.served.fetch_add(1, std::memory_order_relaxed);
  const Answer& answer = answers.in_order[std::min(n, answers.in_order.size() - 1)];
  if (!answer.encoding.empty()) {
    std::string_view accepted;
    for (const auto& h : request.headers)
      if (capture::iequals(h.name, "Accept-Encoding")) accepted = h.value;
    if (!accepts(accepted, answer.encoding)) return decoded(answer);
  }
  return answer.as_recorded;
}

// Decoding runs on the I/O thread that asked, bounded by kDecodedBodyCap in output and so
// in time. The cap is reserved from kDecodedInFlight before decoding, then only what the
// answer holds stays reserved until the session drops the reply.
std::shared_ptr<const proxy::LocalReply> StandIn::decoded(const Answer& answer) {
  auto count = [&](Decode d) {
    decodes_[static_cast<int>(d)].fetch_add(1, std::memory_order_relaxed);
  };
  auto& in_flight = *decoded_in_flight_;
  std::size_t before = in_flight.fetch_add(kDecodedBodyCap, std::memory_order_relaxed);
  if (before + kDecodedBodyCap > kDecodedInFlight) {
    in_flight.fetch_sub(kDecodedBodyCap, std::memory_order_relaxed);
    count(Decode::busy);
    auto reply = std::make_shared<proxy::LocalReply>();
    reply->status = 503;
    reply->head = status_line(503) +
                  "Content-Type: text/xml; charset=utf-8\r\nServer: plextap\r\n"
                  "Retry-After: 1\r\n";
    reply->body = proxy::error_page(503, "replay is decoding too many recorded answers at once");
    return reply;
  }
  auto d = capture::decode_body(answer.encoding, answer.as_recorded->body, kDecodedBodyCap);
  if (!d.ok && d.body.empty()) {
    // Not decodable at all (an unknown coding, corrupt from the first byte): the recorded
    // bytes are all there is to send.
    in_flight.fetch_sub(kDecodedBodyCap, std::memory_order_relaxed);
    count(Decode::failed);
    return answer.as_recorded;
  }
  count(d.truncated ? Decode::cut : d.ok ? Decode::ok : Decode::partial);
  d.body.shrink_to_fit();
  const std::size_t held = d.body.size();
  in_flight.fetch_sub(kDecodedBodyCap - held, std::memory_order_relaxed);
  std::shared_ptr<proxy::LocalReply> reply(
      new proxy::LocalReply, [budget = decoded_in_flight_, held](const proxy::LocalReply* r) {
        budget->fetch_sub(held, std::memory_order_relaxed);
        delete r;
      });
  reply->status = answer.as_recorded->status;
  reply->head = answer.identity_head;
  reply->head_has_length = answer.as_recorded->head_has_length;
  if (d.truncated)
    reply->head += "X-Plextap-Truncated: the decoded body was cut at replay's bound of " +
                   std::to_string(kDecodedBodyCap >> 20) + " MiB\r\n";
  else if (answer.recorded_truncated)
    reply->head += kRecorderCut;
  else if (!d.ok)
    reply->head += "X-Plextap-Truncated: the recorded body does not decode past this point\r\n";
  reply->body = std::move(d.body);
  return reply;
}

void StandIn::log_miss(const std::string& what) {
  // At most one line a second: a client looping over a missing call must not flood
  // the log; the held-back ones are counted in the next line.
  miss_log_.warn("replay miss: " + what);
}

std::string StandIn::metrics_text() const {
  std::string out;
  base::PrometheusText text(out);
  text.family("plextap_replay_requests_total", "counter",
              "Requests answered by replay, by result.");
  text.sample("plextap_replay_requests_total", {"result", "hit"}, hits());
  text.sample("plextap_replay_requests_total", {"result", "miss"}, misses());
  text.family("plextap_replay_exchanges", "gauge", "Recorded exchanges replay answers from.");
  text.sample("plextap_replay_exchanges", exchanges_);
  text.family("plextap_replay_invalid_headers_total", "counter",
              "Recorded header fields left out as invalid HTTP (bad name; CR, LF, NUL or other "
              "control byte in the value).");
  text.sample("plextap_replay_invalid_headers_total", invalid_headers_);
  text.family("plextap_replay_invalid_exchanges_total", "counter",
              "Recorded exchanges left out: their status is not three digits.");
  text.sample("plextap_replay_invalid_exchanges_total", invalid_exchanges_);
  text.family("plextap_replay_decoded_total", "counter",
              "Compressed recorded bodies decoded for a client that does not accept their "
              "encoding, by result (cut: at the decoded-body bound; partial: the compressed "
              "stream ends early, as when the recorder cut it; failed: not decodable, served as "
              "recorded; busy: 503, too many decoded answers in flight).");
  const char* names[] = {"ok", "cut", "partial", "failed", "busy"};
  for (int i = 0; i < 5; ++i)
    text.sample("plextap_replay_decoded_total", {"result", names[i]},
                decodes_[i].load(std::memory_order_relaxed));
  return out;
}

}  // namespace plextap::replay
