#include "replay/stand_in.hpp"

#include <spdlog/spdlog.h>

#include <boost/beast/http/status.hpp>

#include "capture/body_decode.hpp"
#include "capture/redact.hpp"
#include "capture/text.hpp"
#include "proxy/error_page.hpp"

namespace plextap::replay {
namespace {

// Framing and connection management are the session's; secrets were redacted when
// recorded and would only confuse a client.
bool served_header(std::string_view name) {
  for (std::string_view skip : {"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
                                "Proxy-Connection", "TE", "Trailer", "Upgrade", "Set-Cookie"})
    if (capture::iequals(name, skip)) return false;
  return true;
}

std::string status_line(unsigned status) {
  auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  std::string line = "HTTP/1.1 " + std::to_string(status) + " ";
  line.append(reason.data(), reason.size());
  line += "\r\n";
  return line;
}

std::shared_ptr<const proxy::LocalReply> make_reply(const RecordedExchange& r, bool keep_encoding,
                                                    std::string body) {
  auto reply = std::make_shared<proxy::LocalReply>();
  const capture::Exchange& ex = r.exchange;
  reply->status = ex.status;
  reply->head = status_line(ex.status);
  const bool head = ex.method == "HEAD";
  for (const auto& [name, value] : ex.response_headers) {
    if (head && capture::iequals(name, "Content-Length")) {
      reply->head.append(name).append(": ").append(value).append("\r\n");
      reply->head_has_length = true;
      continue;
    }
    if (!served_header(name)) continue;
    if (!keep_encoding && capture::iequals(name, "Content-Encoding")) continue;
    reply->head.append(name).append(": ").append(value).append("\r\n");
  }
  reply->head += "X-Plextap-Replayed: " + std::to_string(r.id) + "\r\n";
  if (ex.response_truncated)
    reply->head += "X-Plextap-Truncated: the body was cut at the recorder's body cap\r\n";
  reply->body = std::move(body);
  return reply;
}

std::string_view header_value(const capture::Exchange& ex, std::string_view name) {
  for (const auto& [n, v] : ex.response_headers)
    if (capture::iequals(n, name)) return v;
  return {};
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

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

StandIn::StandIn(const std::vector<RecordedExchange>& recorded, MatchRules rules)
    : rules_(std::move(rules)) {
  for (const auto& r : recorded) {
    const capture::Exchange& ex = r.exchange;
    if (ex.status < 200) continue;  // 101 began a tunnel: nothing to replay
    Answer answer;
    std::string encoding;
    if (!r.body_decoded) encoding = header_value(ex, "Content-Encoding");
    if (capture::iequals(encoding, "identity")) encoding.clear();
    answer.as_recorded = make_reply(r, true, ex.response_body);
    if (!encoding.empty()) {
      auto decoded = capture::decode_body(encoding, ex.response_body, std::size_t{256} << 20);
      if (decoded.ok || decoded.truncated || !decoded.body.empty()) {
        answer.identity = make_reply(r, false, std::move(decoded.body));
        answer.encoding = encoding;
      }
    }
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
  if (answer.identity) {
    std::string_view accepted;
    for (const auto& h : request.headers)
      if (capture::iequals(h.name, "Accept-Encoding")) accepted = h.value;
    if (!accepts(accepted, answer.encoding)) return answer.identity;
  }
  return answer.as_recorded;
}

void StandIn::log_miss(const std::string& what) {
  // At most one line a second: a client looping over a missing call must not flood
  // the log; the held-back ones are counted in the next line.
  std::int64_t now = steady_ms(), last = last_miss_log_ms_.load(std::memory_order_relaxed);
  if (now - last < 1000 ||
      !last_miss_log_ms_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
    misses_unlogged_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto held = misses_unlogged_.exchange(0, std::memory_order_relaxed);
  if (held)
    spdlog::warn("replay miss: {} ({} more misses held back)", what, held);
  else
    spdlog::warn("replay miss: {}", what);
}

std::string StandIn::metrics_text() const {
  return "# HELP plextap_replay_requests_total Requests answered by replay, by result.\n"
         "# TYPE plextap_replay_requests_total counter\n"
         "plextap_replay_requests_total{result=\"hit\"} " +
         std::to_string(hits()) + "\nplextap_replay_requests_total{result=\"miss\"} " +
         std::to_string(misses()) +
         "\n# HELP plextap_replay_exchanges Recorded exchanges replay answers from.\n"
         "# TYPE plextap_replay_exchanges gauge\nplextap_replay_exchanges " +
         std::to_string(exchanges_) + "\n";
}

}  // namespace plextap::replay
