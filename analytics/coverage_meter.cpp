#include "analytics/coverage_meter.hpp"

#include "analytics/play_feed.hpp"
#include "base/prometheus.hpp"

namespace plextap::analytics {

CoverageMeter::CoverageMeter(store::Store& store, std::chrono::milliseconds min_gap)
    : store_(store), rounds_("coverage", min_gap, [this] { update(); }) {}

CoverageMeter::~CoverageMeter() {
  stop();
}

void CoverageMeter::start() {
  rounds_.start();
}

void CoverageMeter::stop() {
  rounds_.stop();
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

std::string CoverageMeter::metrics_text() {
  rounds_.ask();
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
