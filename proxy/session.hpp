// One client connection, as a class template over the client's stream and the server's
// (plain TCP or TLS each). Its members are defined in three files: session.cpp (the
// request loop and the exchange with the server), session_client.cpp (what the proxy
// writes itself, the client watcher, the close) and local_answer.cpp (answering without
// a server, for `replay serve`); the latter two instantiate theirs for the four kinds of
// session. Internal to proxy/: it carries Asio and Beast types.
#pragma once

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/framing.hpp"
#include "proxy/head_parser.hpp"
#include "proxy/relay.hpp"
#include "proxy/worker.hpp"

namespace plextap::proxy {

inline std::string_view to_sv(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

// The client's address for logs and recordings ("-" when it is gone already).
std::string remote_address(const boost::asio::ip::tcp::socket& socket);
// Whether the peer has closed or reset the connection (its side: data may still wait).
bool peer_closed(boost::asio::ip::tcp::socket& socket);
// The errors of a client that went away (rather than one that sent garbage).
bool client_left(boost::system::error_code ec);

// A read deadline that cancels the socket's operations instead of closing it, so that
// the session can still answer (408) once it has passed. Beast's own timeouts close.
class SoftDeadline {
 public:
  explicit SoftDeadline(boost::asio::any_io_executor ex) : state_(std::make_shared<State>(ex)) {}
  ~SoftDeadline() { state_->timer.cancel(); }

  void arm(boost::asio::ip::tcp::socket& socket, std::chrono::steady_clock::duration after) {
    auto& s = *state_;
    s.fired = false;
    s.timer.expires_after(after);
    s.timer.async_wait([weak = std::weak_ptr<State>(state_), generation = ++s.generation,
                        &socket](boost::system::error_code ec) {
      auto st = weak.lock();
      if (ec || !st || st->generation != generation) return;
      st->fired = true;
      boost::system::error_code ignored;
      socket.cancel(ignored);
    });
  }
  // True if the deadline passed (and cancelled the operation).
  bool disarm() {
    ++state_->generation;
    state_->timer.cancel();
    return state_->fired;
  }

 private:
  struct State {
    explicit State(boost::asio::any_io_executor ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    std::uint64_t generation = 0;
    bool fired = false;
  };
  std::shared_ptr<State> state_;  // the handler holds it weakly: it may outlive the session
};

// The read of an idle session's next request head, which the drain cuts short: the read
// is bound to a cancellation signal, which a wait on the worker's DrainNotice emits if
// the drain comes while the read is on. One wait serves the whole session (a timer's
// waits are withdrawn one by one, at a cost that grows with their number, so not once
// per request); the destructor withdraws it through a signal of its own. The signals
// live in a shared state, as the withdrawn wait completes after the session has gone.
// All of it runs on the worker's thread.
class DrainableRead {
 public:
  explicit DrainableRead(DrainNotice& notice)
      : state_(std::make_shared<State>()), notice_alive_(notice.alive()) {
    notice.async_wait(boost::asio::bind_cancellation_slot(
        state_->withdraw.slot(), [state = state_, &notice](boost::system::error_code) {
          if (state->reading && notice.fired())
            state->read.emit(boost::asio::cancellation_type::terminal);
        }));
  }
  ~DrainableRead() {
    if (!notice_alive_.expired()) state_->withdraw.emit(boost::asio::cancellation_type::terminal);
  }
  DrainableRead(const DrainableRead&) = delete;
  DrainableRead& operator=(const DrainableRead&) = delete;

  // Around the read, which is bound to slot().
  void begin() { state_->reading = true; }
  void end() { state_->reading = false; }
  boost::asio::cancellation_slot slot() { return state_->read.slot(); }

 private:
  struct State {
    boost::asio::cancellation_signal read;
    boost::asio::cancellation_signal withdraw;
    bool reading = false;
  };
  std::shared_ptr<State> state_;
  std::weak_ptr<void> notice_alive_;
};

// While an answer is awaited or streams, a wait for the client's socket to turn readable,
// so that a client that closes or resets lets go of its server connection at once (an
// abandoned stream or long poll). Nothing is read: the bytes of a next request stay in the
// socket for the next head read. Should such bytes wait there (the wait would fire at once
// again), the close is looked for every kPollEvery instead. The wait is a plain handler: a
// coroutine reading beside the answer cost a sixth of the instructions of a small request
// (its spawn, the parallel group, a read that found nothing). The handler holds the state,
// which may outlive the session; it acts only while the watch it was started for is on, and
// so while the session is alive. Runs on the worker's thread.
class ClientWatch {
 public:
  static constexpr std::chrono::milliseconds kPollEvery{50};

  explicit ClientWatch(boost::asio::any_io_executor ex) : state_(std::make_shared<State>(ex)) {}
  ~ClientWatch() { stop(); }
  ClientWatch(const ClientWatch&) = delete;
  ClientWatch& operator=(const ClientWatch&) = delete;

  // Watches `client` until stop(); calls `on_gone` once if it leaves meanwhile.
  void start(boost::asio::ip::tcp::socket& client, std::function<void()>* on_gone) {
    auto& s = *state_;
    s.client = &client;
    s.on_gone = on_gone;
    s.active = true;
    s.gone = false;
    wait(state_, ++s.generation);
  }
  void stop();
  bool active() const { return state_->active; }
  bool gone() const { return state_->gone; }

 private:
  struct State {
    explicit State(boost::asio::any_io_executor ex) : poll_timer(ex) {}
    boost::asio::steady_timer poll_timer;
    boost::asio::ip::tcp::socket* client = nullptr;
    std::function<void()>* on_gone = nullptr;
    std::uint64_t generation = 0;
    bool active = false, waiting = false, gone = false;
  };
  static void wait(const std::shared_ptr<State>& st, std::uint64_t generation);
  static void ready(const std::shared_ptr<State>& st, std::uint64_t generation);
  std::shared_ptr<State> state_;
};

// `Stream` is the client's side, `Upstream` the server's: plain TCP or TLS each.
template <class Stream, class Upstream>
class Session {
 public:
  Session(Stream& stream, Worker& worker, bool tls)
      : client_(stream),
        worker_(worker),
        shared_(worker.shared),
        config_(worker.shared.config),
        metrics_(worker.metrics),
        tls_(tls),
        remote_(remote_address(boost::beast::get_lowest_layer(stream).socket())),
        body_deadline_(worker.ioc.get_executor()),
        idle_read_(worker.drain_notice),
        watch_(worker.ioc.get_executor()) {}

  // Serves requests until the connection closes, keep-alive ends or the drain comes.
  boost::asio::awaitable<void> run();

 private:
  using error_code = boost::system::error_code;
  using Connection = UpstreamConnection<Upstream>;
  UpstreamPool<Upstream>& pool() { return worker_.template pool<Upstream>(); }

  struct Outcome {
    unsigned status = 0;
    std::uint64_t bytes_sent = 0;
    bool keep_alive = false;
    bool complete = false;
    bool tunnel = false;  // a 101 to an upgrade: the tunnel takes the connection over
  };

  // A request on its way to the server: the connection it went out on, and how the
  // sending went. `done` holds the outcome when the exchange ended there already.
  struct Sent {
    std::unique_ptr<Connection> up;
    error_code ec;
    bool body_streamed = false;
    std::optional<Outcome> done;
  };

  // Request body reads: the body timeout, as a soft deadline (408 can still be sent).
  struct BodyGuard {
    Session& s;
    void begin() {
      boost::beast::get_lowest_layer(s.client_).expires_never();
      s.body_deadline_.arm(boost::beast::get_lowest_layer(s.client_).socket(),
                           s.config_.body_timeout);
    }
    bool end() { return s.body_deadline_.disarm(); }
  };
  // Response body reads: a long idle timeout (Beast's; it fails the read with timeout).
  struct UpstreamGuard {
    Upstream& stream;
    void begin() { boost::beast::get_lowest_layer(stream).expires_after(kIdleTimeout); }
    bool end() { return false; }
  };

  // session.cpp: the request loop.
  boost::asio::awaitable<bool> forward(RequestParser& parser);
  // session.cpp: one request forwarded, in three steps, its client watched meanwhile.
  boost::asio::awaitable<Outcome> exchange(RequestParser& parser, const RequestHeadIn& head,
                                           const RequestPlan& plan, capture::Recording* recording);
  bool read_now(Connection& up);
  static constexpr std::size_t kReadNow = 16 * 1024;
  boost::asio::awaitable<Sent> send_request(RequestParser& parser, const RequestHeadIn& head,
                                            const RequestPlan& plan, capture::Recording* recording);
  boost::asio::awaitable<std::optional<Outcome>> read_response_head(
      std::unique_ptr<Connection>& up, std::optional<ResponseParser>& rp, const RequestPlan& plan,
      error_code ec, bool body_streamed);
  boost::asio::awaitable<error_code> read_final_head(Connection& up,
                                                     std::optional<ResponseParser>& rp,
                                                     bool head_only, bool& started);
  boost::asio::awaitable<Outcome> relay_response(std::unique_ptr<Connection>& up,
                                                 ResponseParser& rp, const RequestPlan& plan,
                                                 capture::Recording* recording);

  // local_answer.cpp: no upstream (replay serve).
  boost::asio::awaitable<Outcome> answer_locally(RequestParser& parser, const RequestPlan& plan);

  // session_client.cpp: what the proxy says itself, and how it closes.
  boost::asio::awaitable<void> reject_bad_head(error_code ec);
  boost::asio::awaitable<Outcome> fail_request_body(const RelayResult& relay);
  boost::asio::awaitable<Outcome> fail_connect(error_code ec);
  boost::asio::awaitable<Outcome> fail_upstream(unsigned status, const std::string& reason);
  boost::asio::awaitable<void> send_error(unsigned status, const std::string& reason);
  boost::asio::awaitable<void> write_raw(std::string_view bytes);
  boost::asio::awaitable<void> close_client();
  void client_gone();
  void log_access(const AccessHead& head, unsigned status, std::uint64_t bytes,
                  std::chrono::steady_clock::duration took);

  // True when the whole body is already in the read buffer, so head and body can leave
  // in one write (and, over TLS, one record).
  static bool body_already_buffered(Connection& up, ResponseParser& rp) {
    auto length = rp.content_length();
    return length && up.buffer.size() >= *length && *length <= kPieceRoom;
  }

  char* relay_buffer() {
    if (!relay_buffer_) relay_buffer_ = worker_.buffers.take();
    return relay_buffer_.get();
  }
  void release_relay_buffer() { worker_.buffers.give(std::move(relay_buffer_)); }

  Stream& client_;
  Worker& worker_;
  Shared& shared_;
  const Config& config_;
  MetricsShard& metrics_;
  const bool tls_;
  const std::string remote_;
  unsigned client_version_ = 11;
  boost::beast::flat_buffer buffer_;
  BufferPool::Buffer relay_buffer_;
  HeadStore request_head_in_;  // the heads as read: what the parsers fill
  HeadStore response_head_in_;
  std::string target_;  // the origin-form target, as the server gets it
  std::string request_head_;
  std::string response_head_;
  SoftDeadline body_deadline_;
  DrainableRead idle_read_;
  ClientWatch watch_;
  std::function<void()> on_client_gone_ = [this] { client_gone(); };
  std::unique_ptr<Connection>* watch_upstream_ = nullptr;  // the connection of the watched answer
};

// The four kinds of session, for the files that define Session's members to instantiate.
#define PLEXTAP_FOR_EACH_SESSION(X)                         \
  X(boost::beast::tcp_stream, boost::beast::tcp_stream)     \
  X(boost::beast::tcp_stream, ::plextap::proxy::TlsStream)  \
  X(::plextap::proxy::TlsStream, boost::beast::tcp_stream)  \
  X(::plextap::proxy::TlsStream, ::plextap::proxy::TlsStream)

}  // namespace plextap::proxy
