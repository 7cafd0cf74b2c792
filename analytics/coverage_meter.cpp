#include "analytics/coverage_meter.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <exception>

#include "analytics/play_feed.hpp"
#include "base/prometheus.hpp"

namespace plextap::analytics {

CoverageMeter::CoverageMeter(store::Store& store, std::chrono::milliseconds min_gap)
    : store_(store), min_gap_(min_gap) {}

CoverageMeter::~CoverageMeter() {
  stop();
}

void CoverageMeter::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
}

void CoverageMeter::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CoverageMeter::update() {
  store::EventFilter filter;
  filter.after_id = last_id_;
  read_events(store_, filter, true,
              [&](const store::StoredEvent& e, Kind kind, const capture::EventFields& f) {
                tally_.add(e, kind, f);
                last_id_ = e.id;
              });
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  Coverage counts = tally_.coverage();
  std::lock_guard lock(counts_mutex_);
  counts_ = std::move(counts);
  updated_ms_ = now;
}

void CoverageMeter::loop() {
  // The first round reads the whole store: at the lowest priority, it takes only what the
  // I/O threads leave (Linux nices threads one by one).
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stop_.load() || asked_; });
      wake_.wait_until(lock, next_, [this] { return stop_.load(); });
      if (stop_) return;
      asked_ = false;
      next_ = std::chrono::steady_clock::now() + min_gap_;
    }
    try {
      update();
    } catch (const std::exception& e) {
      spdlog::warn("coverage: {}", e.what());
    }
  }
}

std::string CoverageMeter::metrics_text() {
  {
    std::lock_guard lock(mutex_);
    asked_ = true;
  }
  wake_.notify_all();
  Coverage c;
  std::int64_t updated_ms = 0;
  {
    std::lock_guard lock(counts_mutex_);
    c = counts_;
    updated_ms = updated_ms_;
  }
  std::string out;
  base::PrometheusText p(out);
  p.family("plextap_coverage_server_clients", "gauge",
           "Clients the server named (notifications, sessions), by whether any request of "
           "theirs passed through plextap");
  p.sample("plextap_coverage_server_clients", {"via_proxy", "true"}, c.server_clients_via_proxy);
  p.sample("plextap_coverage_server_clients", {"via_proxy", "false"},
           c.server_clients - c.server_clients_via_proxy);
  p.family("plextap_coverage_server_plays", "gauge",
           "Plays the server saw (ended or not), by whether the proxy heard them too");
  p.sample("plextap_coverage_server_plays", {"via_proxy", "true"}, c.server_plays_via_proxy);
  p.sample("plextap_coverage_server_plays", {"via_proxy", "false"},
           c.server_plays - c.server_plays_via_proxy);
  p.family("plextap_coverage_updated_timestamp_seconds", "gauge",
           "When the coverage counts were last brought up to date (0: not yet)");
  p.sample("plextap_coverage_updated_timestamp_seconds", updated_ms / 1000);
  return out;
}

}  // namespace plextap::analytics
