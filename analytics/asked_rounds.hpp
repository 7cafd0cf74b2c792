// A thread of its own that runs a round of work when asked, at most once per `min_gap`,
// at the lowest priority: how the read side keeps figures up to date for callers on I/O
// threads (the CoverageMeter of /metrics, the Dashboard) without reading the store while
// nobody asks, nor on their thread. Asking never waits.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace plextap::analytics {

class AskedRounds {
 public:
  // `round` runs on the thread; an exception it throws is logged as "`name`: what".
  AskedRounds(std::string name, std::chrono::milliseconds min_gap, std::function<void()> round);
  ~AskedRounds();
  AskedRounds(const AskedRounds&) = delete;
  AskedRounds& operator=(const AskedRounds&) = delete;

  void start();
  // Ends the round in progress and the thread. Idempotent.
  void stop();
  // A round runs as soon as the gap since the last one allows.
  void ask();

 private:
  void loop();

  std::string name_;
  std::chrono::milliseconds min_gap_;
  std::function<void()> round_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  bool asked_ = false;                            // under mutex_
  std::chrono::steady_clock::time_point next_{};  // under mutex_: the earliest next round
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace plextap::analytics
