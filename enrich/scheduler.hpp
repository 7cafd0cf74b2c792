// Runs enrichment in the background of `plextap serve`: a pass now and then on a thread of
// its own, never on the I/O threads. Each round asks the server who is playing, then
// fetches what the store names and lacks; between rounds it sleeps, woken early by stop().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "enrich/enricher.hpp"

namespace plextap::enrich {

class Scheduler {
 public:
  // `cancel` ends the fetches in progress at once (the source's cancel()), so that stop()
  // does not wait for a slow server.
  Scheduler(Enricher& enricher, std::function<void()> cancel,
            std::chrono::milliseconds interval = std::chrono::seconds(3));
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void start();
  // Ends the round in progress and the thread; returns once it has ended. Idempotent.
  void stop();

 private:
  void loop();

  Enricher& enricher_;
  std::function<void()> cancel_;
  std::chrono::milliseconds interval_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace plextap::enrich
