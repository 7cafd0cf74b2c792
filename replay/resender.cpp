#include "replay/resender.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <stdexcept>

#include "capture/classify.hpp"
#include "capture/redact.hpp"
#include "capture/text.hpp"
#include "net/hop_by_hop.hpp"
#include "net/http_send.hpp"
#include "net/use_tuple.hpp"
#include "replay/recorded_head.hpp"

namespace plextap::replay {
// `net` is Asio here; the project's own outbound client and header policy are `outbound`.
namespace outbound = plextap::net;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

using ::plextap::net::kUseTuple;
using Deadline = std::chrono::steady_clock::time_point;
constexpr std::size_t kMaxAnswer = std::size_t{64} << 20;

// Headers the re-sender sets itself or that must not travel: framing, hop-by-hop, the
// recording proxy's own, and redacted secrets (a fingerprint is no credential).
bool resent_header(std::string_view name, std::string_view value) {
  if (outbound::is_hop_by_hop(name)) return false;
  for (std::string_view skip : {"Host", "Content-Length", "Expect", "X-Plex-Token"})
    if (capture::iequals(name, skip)) return false;
  // A recording is not trusted: a field that is not valid HTTP could inject others.
  return !capture::istarts_with(name, "X-Forwarded-") && !value.starts_with(capture::kRedacted) &&
         is_token(name) && is_field_value(value);
}

struct Target {
  outbound::Origin origin;
  std::string authority;
};

Target parse_target(const std::string& url, const ResendOptions& options) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) throw std::invalid_argument("bad --target '" + url + "' (use http://HOST:PORT)");
  Target t;
  std::string scheme = parsed->scheme();
  if (scheme != "http" && scheme != "https")
    throw std::invalid_argument("bad --target '" + url + "': the scheme is http or https");
  t.origin.tls = scheme == "https";
  t.origin.host = parsed->host_address();
  if (t.origin.host.empty()) throw std::invalid_argument("bad --target '" + url + "': no host");
  t.origin.port = parsed->has_port() ? parsed->port_number() : (t.origin.tls ? 443 : 80);
  t.origin.ca_file = options.ca_file;
  t.origin.verify = !options.insecure;
  t.authority = parsed->encoded_host_and_port();
  return t;
}

class Run {
 public:
  Run(const std::vector<RecordedExchange>& recorded, const ResendOptions& options,
      const std::function<void(const ResendResult&)>& on_result)
      : recorded_(recorded),
        options_(options),
        on_result_(on_result),
        target_(parse_target(options.target, options)),
        sender_(ioc_, target_.origin) {}

  ResendSummary run() {
    started_ = std::chrono::steady_clock::now();
    if (!recorded_.empty()) first_ts_ = recorded_.front().exchange.ts_ms;
    unsigned workers = std::max(1u, options_.concurrency);
    for (unsigned i = 0; i < workers && i < recorded_.size(); ++i)
      net::co_spawn(ioc_, worker(), net::detached);
    ioc_.run();
    summary_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (!recorded_.empty())
      summary_.recorded_seconds =
          static_cast<double>(recorded_.back().exchange.ts_ms - first_ts_) / 1000.0;
    return summary_;
  }

 private:
  net::awaitable<void> worker() {
    outbound::Connection conn;
    net::steady_timer timer(ioc_);
    while (next_ < recorded_.size()) {
      const RecordedExchange& r = recorded_[next_++];
      if (!options_.max_speed) {
        auto offset = std::chrono::duration<double, std::milli>(
            static_cast<double>(r.exchange.ts_ms - first_ts_) / std::max(options_.speed, 1e-6));
        timer.expires_at(started_ +
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(offset));
        co_await timer.async_wait(kUseTuple);
      }
      ResendResult result = co_await send(conn, r);
      account(result);
      on_result_(result);
    }
    conn.close();
  }

  http::request<http::string_body> request_for(const capture::Exchange& ex) const {
    http::request<http::string_body> req;
    req.method_string(ex.method);
    req.target(capture::substitute_token(ex.target, options_.token));
    req.version(11);
    for (const auto& [name, value] : ex.request_headers) {
      if (!resent_header(name, value)) continue;
      if (capture::iequals(name, "Referer") || capture::iequals(name, "Origin"))
        req.insert(name, capture::substitute_token(value, options_.token));
      else
        req.insert(name, value);
    }
    if (options_.token) req.set("X-Plex-Token", *options_.token);
    req.set(http::field::host, target_.authority);
    req.body() = ex.request_body;
    if (!ex.request_body.empty() || req.method() == http::verb::post ||
        req.method() == http::verb::put)
      req.prepare_payload();
    return req;
  }

  net::awaitable<ResendResult> send(outbound::Connection& conn, const RecordedExchange& r) {
    const capture::Exchange& ex = r.exchange;
    ResendResult result;
    result.id = r.id;
    auto route = capture::classify(ex.method, ex.target);
    result.kind = std::string(capture::to_string(route ? route->kind : capture::Kind::other));
    result.method = ex.method;
    result.target = ex.target;
    result.status_then = ex.status;
    result.latency_ms_then = static_cast<double>(ex.latency_us) / 1000.0;

    auto req = request_for(ex);
    boost::system::error_code ec;
    std::optional<outbound::ResponseParser> rp;
    auto began = std::chrono::steady_clock::now();
    // One deadline for everything the request takes: connect, TLS handshake, writing it,
    // the whole answer, and a second try. A server that sends a byte now and then cannot
    // hold a request longer.
    const Deadline deadline = began + options_.timeout;
    ec = co_await sender_.send(conn, req, rp, deadline, kMaxAnswer, began);
    if (ec) {
      result.error =
          ec == beast::error::timeout ? "no complete answer within the timeout" : ec.message();
      co_return result;
    }
    result.latency_ms_now =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
    auto& res = rp->get();
    result.status_now = res.result_int();

    // A recording cut at the body cap parses differently from a whole answer by nature:
    // only its status is compared.
    if (route && !ex.response_truncated) {
      capture::Exchange now = ex;
      now.status = result.status_now;
      now.response_headers.clear();
      for (const auto& f : res) now.response_headers.emplace_back(f.name_string(), f.value());
      now.response_body = std::move(res.body());
      now.response_truncated = false;
      auto then_fields = event_fields(ex);
      auto now_fields = event_fields(now);
      if (then_fields && now_fields) result.diffs = diff_event_fields(*then_fields, *now_fields);
    }
    co_return result;
  }

  void account(const ResendResult& r) {
    ++summary_.sent;
    if (r.error.empty()) ++summary_.answered;
    if (!r.error.empty()) ++summary_.errors;
    if (r.error.empty() && r.status_then != r.status_now) ++summary_.status_differ;
    if (!r.diffs.empty()) ++summary_.field_differ;
    if (r.differs()) ++summary_.differ;
  }

  const std::vector<RecordedExchange>& recorded_;
  const ResendOptions& options_;
  const std::function<void(const ResendResult&)>& on_result_;
  Target target_;
  net::io_context ioc_{1};
  outbound::Sender sender_;
  std::chrono::steady_clock::time_point started_;
  std::int64_t first_ts_ = 0;
  std::size_t next_ = 0;
  ResendSummary summary_;
};

}  // namespace

bool resendable(const RecordedExchange& recorded) {
  const capture::Exchange& ex = recorded.exchange;
  if (ex.status < 200) return false;
  // A method or target that would not make one request line is not sent at all.
  if (!is_token(ex.method) || ex.target.empty() ||
      std::any_of(ex.target.begin(), ex.target.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    return false;
  for (const auto& [name, value] : ex.request_headers)
    if (capture::iequals(name, "Upgrade")) return false;
  return true;
}

ResendSummary resend(const std::vector<RecordedExchange>& recorded, const ResendOptions& options,
                     const std::function<void(const ResendResult&)>& on_result) {
  Run run(recorded, options, on_result);
  return run.run();
}

}  // namespace plextap::replay
