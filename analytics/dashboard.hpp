// The dashboard's answers on the admin listener (DESIGN.md section 11): the page at `/` and
// the JSON endpoints under `/api/` that it reads, all answered from what an Insights holds
// in memory, never from the store, since they run on the admin's I/O thread. A thread of
// the dashboard's own brings the Insights up to date, when a request asked for it and at
// most once per `min_gap`, at the lowest priority (as the CoverageMeter does for /metrics).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "analytics/asked_rounds.hpp"
#include "analytics/views.hpp"

namespace plextap::analytics {

struct DashboardAnswer {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A time parameter ("2026-11-01", RFC 3339, an age like "24h") as milliseconds since the
// epoch; throws std::exception with a message fit for the user when it names no time.
using TimeParser = std::function<std::int64_t(const std::string&)>;

// The page, HTML with its CSS and script inline (dashboard_page.cpp, made at build time
// from dashboard/index.html).
std::string_view dashboard_page();

class Dashboard {
 public:
  // Without `insights` (recording off) every answer but the page is 503.
  Dashboard(Insights* insights, TimeParser parse_time,
            std::chrono::milliseconds min_gap = std::chrono::seconds(5));
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Starts the update thread; its first round (the whole store) runs on the first request.
  void start();
  // Ends the update in progress and the thread. Idempotent.
  void stop();

  // One request: GET / (the page), /api/views?since=&until=&user=, /api/now_playing,
  // /api/users, /api/export/KIND?format=jsonl|csv&since=&until=&user=. An unknown
  // parameter, a bad time or an unknown kind is 400 with {"error":…}; another path 404.
  // Until the first update has finished, the /api/ answers carry `X-Plextap-Updating: 1`
  // (the page asks again shortly).
  DashboardAnswer answer(std::string_view method, std::string_view target);

 private:
  Insights* insights_;
  TimeParser parse_time_;
  std::atomic<std::uint64_t> rounds_done_{0};
  AskedRounds rounds_;
};

}  // namespace plextap::analytics
