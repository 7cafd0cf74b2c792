#include "analytics/asked_rounds.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <exception>

namespace plextap::analytics {

AskedRounds::AskedRounds(std::string name, std::chrono::milliseconds min_gap,
                         std::function<void()> round)
    : name_(std::move(name)), min_gap_(min_gap), round_(std::move(round)) {}

AskedRounds::~AskedRounds() {
  stop();
}

void AskedRounds::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
}

void AskedRounds::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AskedRounds::ask() {
  {
    std::lock_guard lock(mutex_);
    asked_ = true;
  }
  wake_.notify_all();
}

void AskedRounds::loop() {
  // A first round may read the whole store: at the lowest priority, it takes only what the
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
      round_();
    } catch (const std::exception& e) {
      spdlog::warn("{}: {}", name_, e.what());
    }
  }
}

}  // namespace plextap::analytics
