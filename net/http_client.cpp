#include "net/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "certs/client_tls.hpp"
#include "net/running_call.hpp"
#include "net/use_tuple.hpp"

namespace plextap::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

struct HttpClient::Tls {
  asio::ssl::context context;
  std::string server_name;
  bool verify;
};

namespace {

constexpr std::size_t kMaxAnswer = std::size_t{64} << 20;

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

// One request, start to end, on the caller's private io_context. The total deadline is
// not kept here but by the caller (it stops the io_context), so that it also covers name
// resolution; each step here may take at most the progress timeout.
struct Get {
  std::string host, port, target;
  const Fields& fields;
  asio::ssl::context* tls;  // null: plain http
  std::string server_name;
  bool verify;
  std::chrono::milliseconds progress;
  GetResult& result;

  http::request<http::empty_body> request() const {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host + ":" + port);
    for (const auto& [name, value] : fields) req.set(name, value);
    req.keep_alive(false);
    return req;
  }

  // "what failed: why", with a timeout named as one.
  void fail(const char* what, boost::system::error_code ec) {
    if (ec == beast::error::timeout) {
      result.timed_out = true;
      result.error = std::string("no progress for ") + seconds_text(progress) + " (" + what + ")";
    } else {
      result.error = std::string(what) + ": " + ec.message();
    }
  }

  template <class Stream>
  asio::awaitable<void> exchange(Stream& stream, beast::tcp_stream& lowest) {
    auto req = request();
    lowest.expires_after(progress);
    auto [ec, n] = co_await http::async_write(stream, req, kUseTuple);
    if (ec) co_return fail("sending the request", ec);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswer);
    while (!parser.is_done()) {
      lowest.expires_after(progress);
      std::tie(ec, n) = co_await http::async_read_some(stream, buffer, parser, kUseTuple);
      if (ec) co_return fail("reading the answer", ec);
    }
    result.status = parser.get().result_int();
    result.body = std::move(parser.get().body());
    lowest.socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  asio::awaitable<void> run() {
    auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    auto [ec, endpoints] = co_await resolver.async_resolve(host, port, kUseTuple);
    if (ec) co_return fail("resolving", ec);
    if (!tls) {
      beast::tcp_stream stream(executor);
      stream.expires_after(progress);
      std::tie(ec, std::ignore) = co_await stream.async_connect(endpoints, kUseTuple);
      if (ec) co_return fail("connecting", ec);
      co_await exchange(stream, stream);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(executor, *tls);
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(progress);
    std::tie(ec, std::ignore) = co_await lowest.async_connect(endpoints, kUseTuple);
    if (ec) co_return fail("connecting", ec);
    if (!certs::prepare_client_connection(stream.native_handle(), server_name, verify)) {
      result.error = "bad TLS server name " + server_name;
      co_return;
    }
    lowest.expires_after(progress);
    std::tie(ec) = co_await stream.async_handshake(asio::ssl::stream_base::client, kUseTuple);
    if (ec) co_return fail("TLS handshake", ec);
    co_await exchange(stream, lowest);
  }
};

}  // namespace

HttpClient::HttpClient(Origin origin, FetchTimeouts timeouts)
    : origin_(std::move(origin)), timeouts_(timeouts) {
  timeouts_.progress = std::min(timeouts_.progress, timeouts_.total);
  if (origin_.tls) {
    auto ctx = certs::make_client_context({origin_.ca_file, origin_.verify});
    tls_ = std::make_unique<Tls>(
        Tls{asio::ssl::context(ctx.release()),
            origin_.server_name.empty() ? origin_.host : origin_.server_name, origin_.verify});
  }
}

HttpClient::~HttpClient() = default;

RunningCalls::Scope::Scope(RunningCalls& calls, asio::io_context& ioc) : calls_(calls), ioc_(ioc) {
  std::lock_guard lock(calls_.mutex_);
  if (calls_.cancelled_) return;
  calls_.running_.push_back(&ioc_);
  admitted_ = true;
}

RunningCalls::Scope::~Scope() {
  if (!admitted_) return;
  std::lock_guard lock(calls_.mutex_);
  std::erase(calls_.running_, &ioc_);
}

void RunningCalls::cancel() {
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  for (auto* ioc : running_) ioc->stop();
}

bool RunningCalls::cancelled() {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

CallEnd run_call(RunningCalls& calls, asio::awaitable<void> call, std::string& error,
                 std::optional<std::chrono::steady_clock::time_point> deadline) {
  // Declared first, destroyed last: the coroutine of a stopped call goes with it, here.
  asio::io_context ioc(1);
  RunningCalls::Scope running(calls, ioc);
  if (!running.admitted()) return CallEnd::refused;
  bool finished = false;
  asio::co_spawn(ioc, std::move(call), [&](std::exception_ptr e) {
    finished = true;
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      error = ex.what();
    }
  });
  if (deadline)
    ioc.run_until(*deadline);
  else
    ioc.run();
  return finished ? CallEnd::finished : CallEnd::stopped;
}

void HttpClient::cancel() {
  calls_.cancel();
}

GetResult HttpClient::get(const std::string& target, const Fields& fields) {
  GetResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeouts_.total;
  Get get{origin_.host,
          std::to_string(origin_.port),
          target,
          fields,
          tls_ ? &tls_->context : nullptr,
          tls_ ? tls_->server_name : std::string(),
          tls_ && tls_->verify,
          timeouts_.progress,
          result};
  switch (run_call(calls_, get.run(), result.error, deadline)) {
    case CallEnd::finished:
      break;
    case CallEnd::refused:
      result.cancelled = true;
      result.error = "cancelled: shutting down";
      break;
    case CallEnd::stopped:
      result = {};
      if (calls_.cancelled()) {
        result.cancelled = true;
        result.error = "cancelled: shutting down";
      } else {
        result.timed_out = true;
        result.error = "no complete answer within " + seconds_text(timeouts_.total);
      }
      break;
  }
  return result;
}

}  // namespace plextap::net
