// A stand-in Plex Media Server for the proxy to forward to: a small blocking HTTP/1.1
// server on 127.0.0.1 (a thread per connection, keep-alive) that records every request
// it gets and answers by path. See upstream.cpp for the paths it knows; tests add their
// own canned answers with answer().
#pragma once

#include <chrono>
#include <cstddef>
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
  // A canned answer for answer(): what PMS would send for a path.
  struct Canned {
    unsigned status = 200;
    std::string content_type;  // no Content-Type header when empty
    std::string body;
    // When the request has `Accept-Encoding: gzip` (and the body is not empty), the body
    // goes out gzip-compressed with `Content-Encoding: gzip`, as PMS does.
    bool gzip_when_accepted = true;
    // When not empty and the request's Accept names JSON (`Accept: application/json`),
    // sent instead of `body`, as `application/json`: PMS answers in either format.
    std::string json_body;
    // When positive, the answer goes out this long after the request arrived (a slow
    // item); the wait ends early, without an answer, if the peer closes or stop() is called.
    std::chrono::milliseconds delay{0};
  };

  // What /small answers.
  static constexpr std::string_view kSmallBody =
      R"(<MediaContainer size="1"><Video ratingKey="1" title="t"/></MediaContainer>)";
  // The message the WebSocket endpoint sends unprompted right after the upgrade.
  static constexpr std::string_view kNotification =
      R"({"NotificationContainer":{"type":"playing"}})";
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
  // From now on, requests for `path` (the query is ignored) get `canned`, whatever their
  // method, before any built-in path. Registering a path again replaces its answer.
  void answer(std::string path, Canned canned);
  // The same for one method only ("GET", "POST", ...); it wins over an any-method answer.
  void answer(std::string method, std::string path, Canned canned);
  // How many requests got a canned answer so far.
  std::uint64_t canned_answers() const;
  std::vector<RecordedRequest> requests() const;
  // The requests whose path (the target without its query) is exactly `path`, in arrival
  // order, and how many there were.
  std::vector<RecordedRequest> requests_to(std::string_view path) const;
  std::size_t count(std::string_view path) const;
  // The last request whose target is exactly `target`.
  std::optional<RecordedRequest> find(std::string_view target) const;
  std::uint64_t connections_accepted() const;
  // Responses the stand-in could not finish writing because the peer went away.
  std::uint64_t aborted_responses() const;
  // When /sse wrote event n (1-based), if it has.
  std::optional<std::chrono::steady_clock::time_point> sse_sent_at(int n) const;
  // Makes the stand-in also the server a watch talks to: the notification websocket then
  // needs `token` (header or query; 401 without), sends a `playing` notification for every
  // /:/timeline request the stand-in receives, from any client, and no longer echoes;
  // /status/sessions (the plays seen through /:/timeline that did not stop),
  // /statistics/resources and / answer (401 without the token), in XML, or JSON for
  // `Accept: application/json`.
  void serve_as_server(std::string token);
  // Notification websockets open now (with serve_as_server).
  std::size_t notification_listeners() const;
  // Drops every open notification websocket: the connection goes away without a close.
  void drop_notifications();
  // Closes the listener and every connection, and joins all threads.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plextap::itest
