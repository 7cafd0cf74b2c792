#include "enrich/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace plextap::enrich {

Scheduler::Scheduler(Enricher& enricher, std::function<void()> cancel,
                     std::chrono::milliseconds interval)
    : enricher_(enricher), cancel_(std::move(cancel)), interval_(interval) {}

Scheduler::~Scheduler() {
  stop();
}

void Scheduler::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (cancel_) cancel_();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::loop() {
  while (!stop_) {
    try {
      enricher_.resolve_accounts();
      enricher_.run_once(stop_);
    } catch (const std::exception& e) {
      spdlog::warn("enrich: {}", e.what());
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, interval_, [this] { return stop_.load(); });
  }
}

}  // namespace plextap::enrich
