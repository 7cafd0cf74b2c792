#include "proxy/metrics.hpp"

#include <cstdio>
#include <string_view>
#include <tuple>
#include <utility>

#include "base/prometheus.hpp"

namespace plextap::proxy {

void MetricsShard::observe_response(unsigned status, std::chrono::steady_clock::duration took) {
  unsigned cls = status / 100;
  add(responses_by_class[cls >= 1 && cls <= 5 ? cls : 0]);
  double seconds = std::chrono::duration<double>(took).count();
  std::size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  add(duration_buckets[b]);
  add(duration_count);
  add(duration_micros_sum, std::chrono::duration_cast<std::chrono::microseconds>(took).count());
}

namespace {

template <class Field>
std::int64_t sum(const std::deque<MetricsShard>& shards, Field field) {
  std::int64_t total = 0;
  for (const auto& s : shards)
    total += static_cast<std::int64_t>(field(s).load(std::memory_order_relaxed));
  return total;
}

template <class T>
std::int64_t sum_member(const std::deque<MetricsShard>& shards, T MetricsShard::*member) {
  return sum(
      shards, [member](const MetricsShard& s) -> auto& { return s.*member; });
}

}  // namespace

std::string Metrics::render() const {
  std::string out;
  out.reserve(4096);
  base::PrometheusText text(out);
  text.family("plextap_responses_total", "counter", "Responses sent to clients, by status class.");
  static constexpr const char* kClass[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (std::size_t c = 0; c < 6; ++c)
    text.sample(
        "plextap_responses_total", {"class", kClass[c]},
        sum(
            shards_, [c](const MetricsShard& s) -> auto& { return s.responses_by_class[c]; }));

  text.family("plextap_bytes_total", "counter", "Bytes moved, by direction.");
  using Counter = MetricsShard::Counter;
  static constexpr std::pair<const char*, Counter MetricsShard::*> kBytes[] = {
      {"from_client", &MetricsShard::bytes_from_clients},
      {"to_client", &MetricsShard::bytes_to_clients},
      {"to_upstream", &MetricsShard::bytes_to_upstream},
      {"from_upstream", &MetricsShard::bytes_from_upstream}};
  for (auto [direction, member] : kBytes)
    text.sample("plextap_bytes_total", {"direction", direction}, sum_member(shards_, member));

  using Gauge = std::atomic<std::int64_t>;
  static constexpr std::tuple<const char*, const char*, Gauge MetricsShard::*> kGauges[] = {
      {"plextap_client_connections", "Open client connections.", &MetricsShard::client_connections},
      {"plextap_upstream_connections", "Open upstream connections (busy and pooled).",
       &MetricsShard::upstream_connections}};
  for (auto [name, help, member] : kGauges) {
    text.family(name, "gauge", help);
    text.sample(name, sum_member(shards_, member));
  }
  static constexpr std::tuple<const char*, const char*, Counter MetricsShard::*> kCounters[] = {
      {"plextap_client_connections_total", "Client connections accepted.",
       &MetricsShard::client_connections_total},
      {"plextap_upstream_connects_total", "Upstream connections opened.",
       &MetricsShard::upstream_connects_total},
      {"plextap_upstream_errors_total", "Upstream connect, reset and protocol errors (502).",
       &MetricsShard::upstream_errors},
      {"plextap_upstream_timeouts_total", "Upstream response timeouts (504).",
       &MetricsShard::upstream_timeouts},
      {"plextap_upstream_discarded_total",
       "Upstream connections closed instead of reused: bytes past the end of a response, or "
       "closed while pooled.",
       &MetricsShard::upstream_discarded},
      {"plextap_upstream_busy_total",
       "Requests answered 503 because every upstream connection stayed busy.",
       &MetricsShard::upstream_busy},
      {"plextap_client_aborts_total", "Clients that left before their answer ended.",
       &MetricsShard::client_aborts},
      {"plextap_body_timeouts_total", "Request bodies without progress for --body-timeout (408).",
       &MetricsShard::body_timeouts},
      {"plextap_bad_requests_total", "Malformed or oversized client requests.",
       &MetricsShard::bad_requests},
      {"plextap_tls_handshake_errors_total", "Failed client TLS handshakes.",
       &MetricsShard::tls_handshake_errors},
      {"plextap_websocket_tunnels_total", "WebSocket upgrades tunnelled.",
       &MetricsShard::websocket_tunnels}};
  for (auto [name, help, member] : kCounters) {
    text.family(name, "counter", help);
    text.sample(name, sum_member(shards_, member));
  }

  text.family("plextap_request_duration_seconds", "histogram",
              "Time from request head to last response byte.");
  std::int64_t cumulative = 0;
  char le[32];
  for (std::size_t b = 0; b <= MetricsShard::kBuckets.size(); ++b) {
    cumulative += sum(
        shards_, [b](const MetricsShard& s) -> auto& { return s.duration_buckets[b]; });
    if (b < MetricsShard::kBuckets.size())
      std::snprintf(le, sizeof le, "%g", MetricsShard::kBuckets[b]);
    else
      std::snprintf(le, sizeof le, "+Inf");
    text.sample("plextap_request_duration_seconds_bucket", {"le", le}, cumulative);
  }
  char total[64];
  std::snprintf(total, sizeof total, "%.6f",
                static_cast<double>(sum_member(shards_, &MetricsShard::duration_micros_sum)) / 1e6);
  text.sample("plextap_request_duration_seconds_sum", std::string_view(total));
  text.sample("plextap_request_duration_seconds_count",
              sum_member(shards_, &MetricsShard::duration_count));
  return out;
}

}  // namespace plextap::proxy
