// `plextap replay serve`: a stand-in Plex Media Server that answers like the recorded one.
// Requests are matched on method, path and query (replay/match.hpp); repeated matches
// are answered in recorded order, then the last answer is repeated. A request nothing
// matches gets a 404 whose body says what was asked; misses are counted and logged.
//
// Memory is bounded by the recording: bodies are kept as recorded, and a compressed one is
// decoded per request, for a client that does not accept its encoding, up to
// kDecodedBodyCap (the rest is cut, and said so). Decoded answers held by sessions at once
// are bounded by kDecodedInFlight; past it a request gets 503 with Retry-After.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/rate_limited_log.hpp"
#include "proxy/responder.hpp"
#include "replay/match.hpp"
#include "replay/source.hpp"

namespace plextap::replay {

class StandIn final : public proxy::Responder {
 public:
  // 16 MiB: sixteen times the recorder's default --body-cap, more than a Plex listing
  // recorded under that cap decodes to. Inflating that much takes some 50 ms of CPU on the
  // I/O thread that asked (zlib at ~300 MB/s, page faults included): tolerable for a
  // stand-in, and a hard bound per request, where a bomb's full size would have none.
  static constexpr std::size_t kDecodedBodyCap = std::size_t{16} << 20;
  // Four answers at the cap at once.
  static constexpr std::size_t kDecodedInFlight = 4 * kDecodedBodyCap;

  // Takes the recordings' bodies over rather than copying them.
  StandIn(std::vector<RecordedExchange> recorded, MatchRules rules);

  std::shared_ptr<const proxy::LocalReply> respond(const proxy::LocalRequest& request) override;
  std::string metrics_text() const;

  std::size_t exchanges() const { return exchanges_; }
  std::size_t keys() const { return answers_.size(); }
  std::uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  std::uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  // Recorded header fields left out as invalid (summed over all exchanges), and recorded
  // exchanges left out because their status cannot be sent.
  std::uint64_t invalid_headers() const { return invalid_headers_; }
  std::uint64_t invalid_exchanges() const { return invalid_exchanges_; }

 private:
  // One recorded answer, as recorded and, when the recording is compressed, the head to
  // send its body decoded with, to clients that do not accept the encoding.
  struct Answer {
    std::shared_ptr<const proxy::LocalReply> as_recorded;
    std::string encoding;       // as recorded; empty for identity
    std::string identity_head;  // as_recorded's head without Content-Encoding or truncation
    bool recorded_truncated = false;
  };
  enum class Decode { ok, cut, partial, failed, busy };
  struct Answers {
    std::vector<Answer> in_order;
    std::atomic<std::size_t> served{0};
  };

  void log_miss(const std::string& what);
  std::shared_ptr<const proxy::LocalReply> decoded(const Answer& answer);

  MatchRules rules_;
  std::unordered_map<std::string, std::unique_ptr<Answers>> answers_;
  std::size_t exchanges_ = 0;
  std::atomic<std::uint64_t> hits_{0}, misses_{0};
  base::RateLimitedLog miss_log_{std::chrono::seconds(1), "more misses"};
  std::uint64_t invalid_headers_ = 0, invalid_exchanges_ = 0;
  std::atomic<std::uint64_t> decodes_[5]{};  // by Decode
  // Bytes of decoded answers reserved or still held by a session; shared with the replies,
  // which give theirs back when the session lets go of them.
  std::shared_ptr<std::atomic<std::size_t>> decoded_in_flight_ =
      std::make_shared<std::atomic<std::size_t>>(0);
};

}  // namespace plextap::replay
