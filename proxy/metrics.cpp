#include "proxy/metrics.hpp"

#include <cstdio>

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

void line(std::string& out, const char* name, const char* type, const char* help, std::int64_t v) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  out += name;
  out += ' ';
  out += std::to_string(v);
  out += '\n';
}

}  // namespace

std::string Metrics::render() const {
  std::string out;
  out.reserve(4096);
  out +=
      "# HELP plextap_responses_total Responses sent to clients, by status class.\n"
      "# TYPE plextap_responses_total counter\n";
  static constexpr const char* kClass[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (std::size_t c = 0; c < 6; ++c)
    out += std::string("plextap_responses_total{class=\"") + kClass[c] + "\"} " +
           std::to_string(sum(
               shards_, [c](auto& s) -> auto& { return s.responses_by_class[c]; })) +
           "\n";
#define PLEXTAP_FIELD(f) \
  [](auto& s) -> auto& { \
    return s.f;          \
  }
  out +=
      "# HELP plextap_bytes_total Bytes moved, by direction.\n# TYPE plextap_bytes_total counter\n";
  out += "plextap_bytes_total{direction=\"from_client\"} " +
         std::to_string(sum(shards_, PLEXTAP_FIELD(bytes_from_clients))) + "\n";
  out += "plextap_bytes_total{direction=\"to_client\"} " +
         std::to_string(sum(shards_, PLEXTAP_FIELD(bytes_to_clients))) + "\n";
  out += "plextap_bytes_total{direction=\"to_upstream\"} " +
         std::to_string(sum(shards_, PLEXTAP_FIELD(bytes_to_upstream))) + "\n";
  out += "plextap_bytes_total{direction=\"from_upstream\"} " +
         std::to_string(sum(shards_, PLEXTAP_FIELD(bytes_from_upstream))) + "\n";
  line(out, "plextap_client_connections", "gauge", "Open client connections.",
       sum(shards_, PLEXTAP_FIELD(client_connections)));
  line(out, "plextap_upstream_connections", "gauge", "Open upstream connections (busy and pooled).",
       sum(shards_, PLEXTAP_FIELD(upstream_connections)));
  line(out, "plextap_client_connections_total", "counter", "Client connections accepted.",
       sum(shards_, PLEXTAP_FIELD(client_connections_total)));
  line(out, "plextap_upstream_connects_total", "counter", "Upstream connections opened.",
       sum(shards_, PLEXTAP_FIELD(upstream_connects_total)));
  line(out, "plextap_upstream_errors_total", "counter",
       "Upstream connect, reset and protocol errors (502).",
       sum(shards_, PLEXTAP_FIELD(upstream_errors)));
  line(out, "plextap_upstream_timeouts_total", "counter", "Upstream response timeouts (504).",
       sum(shards_, PLEXTAP_FIELD(upstream_timeouts)));
  line(out, "plextap_bad_requests_total", "counter", "Malformed or oversized client requests.",
       sum(shards_, PLEXTAP_FIELD(bad_requests)));
  line(out, "plextap_tls_handshake_errors_total", "counter", "Failed client TLS handshakes.",
       sum(shards_, PLEXTAP_FIELD(tls_handshake_errors)));
  line(out, "plextap_websocket_tunnels_total", "counter", "WebSocket upgrades tunnelled.",
       sum(shards_, PLEXTAP_FIELD(websocket_tunnels)));

  out +=
      "# HELP plextap_request_duration_seconds Time from request head to last response byte.\n"
      "# TYPE plextap_request_duration_seconds histogram\n";
  std::int64_t cumulative = 0;
  char le[32];
  for (std::size_t b = 0; b <= MetricsShard::kBuckets.size(); ++b) {
    cumulative += sum(
        shards_, [b](auto& s) -> auto& { return s.duration_buckets[b]; });
    if (b < MetricsShard::kBuckets.size())
      std::snprintf(le, sizeof le, "%g", MetricsShard::kBuckets[b]);
    else
      std::snprintf(le, sizeof le, "+Inf");
    out += std::string("plextap_request_duration_seconds_bucket{le=\"") + le + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  char total[64];
  std::snprintf(total, sizeof total, "%.6f",
                static_cast<double>(sum(shards_, PLEXTAP_FIELD(duration_micros_sum))) / 1e6);
  out += std::string("plextap_request_duration_seconds_sum ") + total + "\n";
  out += "plextap_request_duration_seconds_count " +
         std::to_string(sum(shards_, PLEXTAP_FIELD(duration_count))) + "\n";
#undef PLEXTAP_FIELD
  return out;
}

}  // namespace plextap::proxy
