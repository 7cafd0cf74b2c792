// `plextap replay serve`: a stand-in Plex Media Server that answers like the recorded one.
// Requests are matched on method, path and query (replay/match.hpp); repeated matches
// are answered in recorded order, then the last answer is repeated. A request nothing
// matches gets a 404 whose body says what was asked; misses are counted and logged.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/responder.hpp"
#include "replay/match.hpp"
#include "replay/source.hpp"

namespace plextap::replay {

class StandIn final : public proxy::Responder {
 public:
  StandIn(const std::vector<RecordedExchange>& recorded, MatchRules rules);

  std::shared_ptr<const proxy::LocalReply> respond(const proxy::LocalRequest& request) override;
  std::string metrics_text() const override;

  std::size_t exchanges() const { return exchanges_; }
  std::size_t keys() const { return answers_.size(); }
  std::uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  std::uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  // One recorded answer, as recorded and, when the recording is compressed, decoded for
  // clients that do not accept the encoding.
  struct Answer {
    std::shared_ptr<const proxy::LocalReply> as_recorded;
    std::shared_ptr<const proxy::LocalReply> identity;  // null: as_recorded is identity
    std::string encoding;                               // as recorded; empty for identity
  };
  struct Answers {
    std::vector<Answer> in_order;
    std::atomic<std::size_t> served{0};
  };

  void log_miss(const std::string& what);

  MatchRules rules_;
  std::unordered_map<std::string, std::unique_ptr<Answers>> answers_;
  std::size_t exchanges_ = 0;
  std::atomic<std::uint64_t> hits_{0}, misses_{0};
  std::atomic<std::int64_t> last_miss_log_ms_{0};
  std::atomic<std::uint64_t> misses_unlogged_{0};
};

}  // namespace plextap::replay
