#include "capture/recorder.hpp"

#include <chrono>

#include "base/prometheus.hpp"
#include "capture/classify.hpp"
#include "capture/event.hpp"
#include "capture/query.hpp"
#include "capture/redact.hpp"
#include "capture/text.hpp"
#include "store/writer.hpp"

namespace plextap::capture {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.starts_with(prefix);
}

// Whether a response body is something `--record all` may keep: text, not media.
bool is_textual(std::string_view content_type) {
  return content_type.empty() || content_type.find("xml") != std::string_view::npos ||
         content_type.find("json") != std::string_view::npos || content_type.starts_with("text/");
}

class Pending final : public store::Pending {
 public:
  Pending(CapturedExchange c, store::Reservation held)
      : captured_(std::move(c)), held_(std::move(held)) {}
  bool build(store::Record& out) override {
    out = build_record(std::move(captured_));
    return true;
  }

 private:
  CapturedExchange captured_;
  store::Reservation held_;  // the copies' share of the byte budget, until the writer is done
};

// What a recording's head costs besides its strings (the exchange, vectors, the Pending).
constexpr std::size_t kRecordingOverhead = 1024;

// The X-Plex-Token query parameter of a target, decoded; "" if none. The name is compared
// as the server reads it: decoded once, any letter case ("X%2DPlex%2DToken" counts). A
// direct scan: decoding every parameter on the I/O thread would cost allocations.
std::string query_token(std::string_view target) {
  auto query = query_of(target);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = piece.find('=');
    if (eq == std::string_view::npos) continue;
    auto name = piece.substr(0, eq);
    constexpr std::string_view kName = "x-plex-token";
    bool named = name.find('%') == std::string_view::npos
                     ? iequals(name, kName)
                     : name.size() > kName.size() && iequals(decode_component(name), kName);
    if (named) return decode_component(piece.substr(eq + 1));
  }
  return {};
}

class ExchangeRecording final : public Recording {
 public:
  ExchangeRecording(Recorder& recorder, std::optional<Route> route, const RequestHead& head)
      : recorder_(recorder),
        started_(std::chrono::steady_clock::now()),
        held_(&recorder.writer().budget()) {
    std::size_t head_bytes = kRecordingOverhead + head.target.size();
    for (const auto& h : head.headers) head_bytes += h.name.size() + h.value.size() + 64;
    if (!held_.grow(head_bytes)) {
      over_budget_ = true;
      return;
    }
    captured_.route = route;
    Exchange& ex = captured_.exchange;
    ex.ts_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(head.arrived.time_since_epoch())
            .count();
    ex.remote_addr = head.remote_addr;
    ex.tls = head.tls;
    ex.method = head.method;
    // Copied as sent: build_record redacts target, headers and bodies on the writer's
    // thread. Only secret headers are replaced here, as their fingerprint needs the secret.
    ex.target = head.target;
    std::string_view token;
    for (const auto& h : head.headers) {
      if (iequals(h.name, "X-Plex-Token")) token = h.value;
      ex.request_headers.emplace_back(h.name, redact_header(h.name, h.value));
    }
    std::string decoded;
    if (token.empty()) {
      decoded = query_token(head.target);
      token = decoded;
    }
    if (!token.empty()) captured_.token_fp = fingerprint(token);
  }

  void request_body(std::string_view chunk) override {
    append_capped(captured_.exchange.request_body, captured_.exchange.request_truncated, chunk);
  }

  void response_head(const ResponseHead& head) override {
    Exchange& ex = captured_.exchange;
    ex.status = head.status;
    std::string_view content_type;
    for (const auto& h : head.headers) {
      if (iequals(h.name, "Content-Type")) content_type = h.value;
      ex.response_headers.emplace_back(h.name, redact_header(h.name, h.value));
    }
    // Media never goes into the store, whatever the route.
    keep_response_body_ = head.status != 206 && (captured_.route || is_textual(content_type));
  }

  void response_body(std::string_view chunk) override {
    if (keep_response_body_)
      append_capped(captured_.exchange.response_body, captured_.exchange.response_truncated, chunk);
  }

  void finish(bool complete) override {
    captured_.complete = complete;
    captured_.exchange.latency_us =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - started_)
                                       .count());
    if (over_budget_) {
      recorder_.writer().count_over_budget();
      return;  // what was copied goes with this recording, and its bytes with it
    }
    recorder_.writer().submit(std::make_unique<Pending>(std::move(captured_), std::move(held_)));
  }

  // The byte budget had no room for this recording: nothing more is copied, and it is
  // dropped (and counted) when it finishes.
  bool over_budget() const { return over_budget_; }

 private:
  void append_capped(std::string& body, bool& truncated, std::string_view chunk) {
    if (over_budget_) return;
    std::size_t room =
        recorder_.options().body_cap - std::min(body.size(), recorder_.options().body_cap);
    if (chunk.size() > room) truncated = true;
    chunk = chunk.substr(0, room);
    if (chunk.empty()) return;
    if (!held_.grow(chunk.size())) {
      over_budget_ = true;
      return;
    }
    body.append(chunk);
  }

  // Secret headers keep a fingerprint of their value, so equal values stay recognisable.
  std::string redact_header(std::string_view name, std::string_view value) const {
    if (is_secret_header(name)) return std::string(kRedacted) + ":" + fingerprint(value);
    return std::string(value);
  }

  // HMAC is costly per request in OpenSSL 3; clients reuse a handful of tokens, so each
  // I/O thread remembers the last few fingerprints.
  std::string fingerprint(std::string_view token) const {
    struct Entry {
      const Recorder* recorder;  // the secret belongs to the recorder
      std::string token, fp;
    };
    thread_local std::vector<Entry> cache;
    for (const auto& e : cache)
      if (e.recorder == &recorder_ && e.token == token) return e.fp;
    if (cache.size() >= 16) cache.erase(cache.begin());
    cache.push_back({&recorder_, std::string(token), recorder_.fingerprints().fingerprint(token)});
    return cache.back().fp;
  }

  Recorder& recorder_;
  std::chrono::steady_clock::time_point started_;
  store::Reservation held_;  // the bytes copied so far, from the writer's budget
  bool over_budget_ = false;
  CapturedExchange captured_;
  bool keep_response_body_ = true;
};

}  // namespace

bool is_media_or_stream(std::string_view path) {
  return starts_with(path, "/library/parts/") ||
         path.find("/transcode/universal/session/") != std::string_view::npos ||
         starts_with(path, "/photo/:/transcode") || starts_with(path, "/:/websocket") ||
         starts_with(path, "/:/eventsource") || path.find("/file.") != std::string_view::npos;
}

Recorder::Recorder(store::Writer& writer, TokenFingerprinter fingerprints, Options options)
    : writer_(writer), fingerprints_(std::move(fingerprints)), options_(options) {}

bool Recorder::wants(std::string_view method, std::string_view target) const {
  if (classify(method, target)) return true;
  return options_.record_all && !is_media_or_stream(path_of(target));
}

std::unique_ptr<Recording> Recorder::open(const RequestHead& head) {
  auto recording =
      std::make_unique<ExchangeRecording>(*this, classify(head.method, head.target), head);
  if (recording->over_budget()) {
    writer_.count_over_budget();
    return nullptr;
  }
  return recording;
}

bool Recorder::healthy() const {
  return writer_.healthy();
}

std::string Recorder::metrics_text() const {
  const auto& c = writer_.counters();
  auto v = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  std::string out;
  base::PrometheusText text(out);
  text.family("plextap_events_recorded_total", "counter", "Events committed to the store.");
  text.sample("plextap_events_recorded_total", v(c.events_written));
  text.family("plextap_enrichment_records_written_total", "counter",
              "Enrichment results (media entries, accounts) committed to the store.");
  text.sample("plextap_enrichment_records_written_total", v(c.written) - v(c.events_written));
  text.family("plextap_events_dropped_total", "counter",
              "Events lost: queue full, or store not writable.");
  text.sample("plextap_events_dropped_total", {"reason", "queue_full"}, v(c.dropped_queue_full));
  text.sample("plextap_events_dropped_total", {"reason", "queue_bytes"}, v(c.dropped_queue_bytes));
  text.sample("plextap_events_dropped_total", {"reason", "store_error"}, v(c.dropped_store_error));
  text.family("plextap_record_held_bytes", "gauge",
              "Bytes held for the store: exchanges being copied and waiting in the queue.");
  text.sample("plextap_record_held_bytes", writer_.budget().held());
  text.family("plextap_record_held_bytes_limit", "gauge", "--queue-bytes.");
  text.sample("plextap_record_held_bytes_limit", writer_.budget().limit());
  text.family("plextap_store_commits_total", "counter", "Store write transactions committed.");
  text.sample("plextap_store_commits_total", v(c.commits));
  return out;
}

}  // namespace plextap::capture
