// Internal to net/ (it carries Asio types): one blocking call of a client, run on an
// io_context of its own as one of the client's RunningCalls.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "net/http_client.hpp"

namespace plextap::net {

enum class CallEnd {
  finished,  // the coroutine returned or threw (`error` then has its message)
  refused,   // the client was cancelled before the call began
  stopped,   // cancel() stopped it, or `deadline` passed
};

// Runs `call` until it ends, cancel() stops it or `deadline` passes. What a stopped call
// leaves pending (the coroutine with its socket and TLS state) is destroyed before this
// returns, on the caller's thread, never elsewhere.
CallEnd run_call(RunningCalls& calls, boost::asio::awaitable<void> call, std::string& error,
                 std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

}  // namespace plextap::net
