// The outbound HTTP client, over plain TCP or TLS on certs/client_tls (verification, SNI).
// This header is free of Asio and Beast; the coroutine form for many requests over kept-
// alive connections is net/http_send.hpp.
//
// HttpClient::get: one connection per request, run on a private io_context by the calling
// thread. Each request has a total deadline (name resolution, connect, TLS handshake,
// request and the whole answer) and a shorter progress timeout; cancel() ends requests in
// progress from another thread at once, so that shutdown never waits for a slow server.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace plextap::net {

// The io_contexts of a client's calls in progress, so that cancel(), from any thread,
// stops each of them and makes every later call return at once.
class RunningCalls {
 public:
  // Registers a call's io_context for the scope's life; not admitted once cancelled.
  class Scope {
   public:
    Scope(RunningCalls& calls, boost::asio::io_context& ioc);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    bool admitted() const { return admitted_; }

   private:
    RunningCalls& calls_;
    boost::asio::io_context& ioc_;
    bool admitted_ = false;
  };
  void cancel();
  bool cancelled();

 private:
  std::mutex mutex_;  // guards the two below
  bool cancelled_ = false;
  std::vector<boost::asio::io_context*> running_;
};

// Where requests go.
struct Origin {
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
  // TLS only: whom to trust, and the name sent as SNI and verified (empty: `host`).
  std::filesystem::path ca_file;  // PEM; empty: the system's trusted CAs
  std::string server_name;
  bool verify = true;
};

struct FetchTimeouts {
  // Everything one request may take, from connect to the last byte of the answer.
  std::chrono::milliseconds total{30'000};
  // How long the server may send nothing that moves the answer forward.
  std::chrono::milliseconds progress{20'000};
};

struct GetResult {
  unsigned status = 0;  // 0: no answer (see error)
  std::string body;
  std::string error;       // "what failed: why"
  bool timed_out = false;  // the total deadline or the progress timeout ran out
  bool cancelled = false;  // ended by cancel()
};

using Fields = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  // Throws std::runtime_error when the origin's CA file cannot be read.
  HttpClient(Origin origin, FetchTimeouts timeouts);
  ~HttpClient();

  // GET `target` with `Host: host:port`, `fields` in order, and Connection: close; the
  // answer's body is bounded at 64 MiB.
  GetResult get(const std::string& target, const Fields& fields);
  // From any thread: ends the requests in progress (they return `cancelled`) and makes
  // every later one return at once. Nothing waits for the server.
  void cancel();

 private:
  struct Tls;
  Origin origin_;
  std::unique_ptr<Tls> tls_;  // null for plain http
  FetchTimeouts timeouts_;
  RunningCalls calls_;
};

}  // namespace plextap::net
