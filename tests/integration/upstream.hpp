// A stand-in Plex Media Server for the proxy to forward to: a small blocking HTTP/1.1
// server on 127.0.0.1 (a thread per connection, keep-alive) that records every request
// it gets and answers by path. See upstream.cpp for the paths it knows.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plextap::itest {

struct RecordedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // in arrival order
  std::string body;
  std::uint64_t connection = 0;  // which upstream TCP connection carried it (1, 2, ...)

  // The first value of header `name` (any letter case); empty if absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
};

class StandInUpstream {
 public:
  // What /small answers.
  static constexpr std::string_view kSmallBody =
      R"(<MediaContainer size="1"><Video ratingKey="1" title="t"/></MediaContainer>)";
  // The message the WebSocket endpoint sends unprompted right after the upgrade.
  static constexpr std::string_view kNotification = R"({"NotificationContainer":{"type":"playing"}})";
  // The pieces /chunked sends, one chunk each.
  static const std::vector<std::string>& chunk_pieces();
  static std::string chunked_body();
  // What /gzip sends to a client that accepts gzip: the gzip form of gzip_plain().
  static const std::string& gzip_bytes();
  static const std::string& gzip_plain();

  StandInUpstream();   // listening on 127.0.0.1:0 once constructed
  ~StandInUpstream();  // stop()
  StandInUpstream(const StandInUpstream&) = delete;
  StandInUpstream& operator=(const StandInUpstream&) = delete;

  std::uint16_t port() const;
  std::vector<RecordedRequest> requests() const;
  // The last request whose target is exactly `target`.
  std::optional<RecordedRequest> find(std::string_view target) const;
  std::uint64_t connections_accepted() const;
  // Responses the stand-in could not finish writing because the peer went away.
  std::uint64_t aborted_responses() const;
  // When /sse wrote event n (1-based), if it has.
  std::optional<std::chrono::steady_clock::time_point> sse_sent_at(int n) const;
  // Closes the listener and every connection, and joins all threads.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plextap::itest
