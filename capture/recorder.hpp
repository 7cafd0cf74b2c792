// The tap that records: on the I/O thread it only classifies the request, copies what it
// needs (secret headers fingerprinted, bodies capped) and hands the finished exchange to
// the store writer's queue. Redacting, decompressing and parsing happen later, on the
// writer's thread (build_record), before anything is stored.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

#include "capture/tap.hpp"
#include "capture/token_fingerprint.hpp"

namespace plextap::store {
class Writer;
}

namespace plextap::capture {

class Recorder final : public Tap {
 public:
  struct Options {
    std::size_t body_cap = std::size_t{1} << 20;  // per body; larger ones are stored truncated
    bool record_all = false;                      // also non-media calls of no tapped kind
  };

  Recorder(store::Writer& writer, TokenFingerprinter fingerprints, Options options);

  bool wants(std::string_view method, std::string_view target) const override;
  std::unique_ptr<Recording> open(const RequestHead& head) override;
  bool healthy() const override;
  // Prometheus text of what the recorder and its writer count, for /metrics.
  std::string metrics_text() const;

  store::Writer& writer() { return writer_; }
  const TokenFingerprinter& fingerprints() const { return fingerprints_; }
  const Options& options() const { return options_; }

 private:
  store::Writer& writer_;
  TokenFingerprinter fingerprints_;
  Options options_;
};

// True for requests whose bodies are media (direct play parts, transcode segments, photo
// transcodes) or never-ending streams: `--record all` leaves them out.
bool is_media_or_stream(std::string_view path);

}  // namespace plextap::capture
