// Counters for /metrics. Each I/O thread owns one shard and updates it without
// contention; the admin endpoint sums the shards when scraped.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

namespace plextap::proxy {

struct alignas(64) MetricsShard {
  using Counter = std::atomic<std::uint64_t>;
  static constexpr std::array<double, 12> kBuckets{0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                   0.25,  0.5,   1,    2.5,   5,    10};

  std::array<Counter, 6> responses_by_class{};  // index 1..5: 1xx..5xx, 0: none sent
  Counter bytes_from_clients{0};
  Counter bytes_to_clients{0};
  Counter bytes_to_upstream{0};
  Counter bytes_from_upstream{0};
  std::atomic<std::int64_t> client_connections{0};
  std::atomic<std::int64_t> upstream_connections{0};
  Counter client_connections_total{0};
  Counter upstream_connects_total{0};
  Counter upstream_errors{0};
  Counter upstream_discarded{0};  // pooled connections closed for bytes past a response
  Counter upstream_busy{0};       // requests refused for want of an upstream connection (503)
  Counter upstream_timeouts{0};
  Counter bad_requests{0};
  Counter client_aborts{0};
  Counter body_timeouts{0};
  Counter tls_handshake_errors{0};
  Counter websocket_tunnels{0};
  std::array<Counter, kBuckets.size() + 1> duration_buckets{};  // last: +Inf
  Counter duration_count{0};
  Counter duration_micros_sum{0};

  void add(Counter& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
  void observe_response(unsigned status, std::chrono::steady_clock::duration took);
};

class Metrics {
 public:
  explicit Metrics(unsigned shards) : shards_(shards) {}
  MetricsShard& shard(unsigned i) { return shards_[i]; }
  // Prometheus text exposition format, version 0.0.4.
  std::string render() const;

 private:
  std::deque<MetricsShard> shards_;  // deque: atomics are neither movable nor copyable
};

}  // namespace plextap::proxy
