// A TLS stream that lets OpenSSL read and write the socket itself (SSL_set_fd) and only
// asks Asio to wait for readiness. Asio's ssl::stream keeps four 17 KiB buffers per
// connection (its engine's and a BIO pair's) and copies every byte through them; here an
// idle connection holds only OpenSSL's state (its buffers are released while idle), and
// bytes go from the socket straight into OpenSSL. It is an AsyncReadStream and
// AsyncWriteStream, so Beast's HTTP operations run on it unchanged, and it carries
// Beast-style timeouts (expires_after) so that the session code treats it like a
// beast::tcp_stream. It serves both ends: client connections (server role) and
// connections to an https upstream (client role). Internal to proxy/.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>

namespace plextap::proxy {

// A failed certificate check, by its X509_V_ERR_* code: "certificate verify failed
// (hostname mismatch)" tells the user more than OpenSSL's error queue does.
inline const boost::system::error_category& verify_category() {
  struct Category final : boost::system::error_category {
    const char* name() const noexcept override { return "tls.verify"; }
    std::string message(int code) const override {
      return std::string("certificate verify failed (") + X509_verify_cert_error_string(code) + ")";
    }
  };
  static const Category category;
  return category;
}

// Whether `ec` came from TLS itself (a handshake or record failure) rather than TCP.
inline bool is_tls_error(const boost::system::error_code& ec) {
  return ec.category() == verify_category() ||
         ec.category() == boost::asio::error::get_ssl_category() ||
         ec == boost::asio::ssl::error::stream_truncated;
}

class TlsStream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using socket_type = boost::asio::ip::tcp::socket;
  enum class Role { server, client };

  // Takes a connected socket; `ctx` is referenced by the SSL object (OpenSSL counts it).
  // A client sets its server name on native_handle() before the handshake.
  TlsStream(socket_type socket, SSL_CTX* ctx, Role role = Role::server)
      : impl_(std::make_shared<Impl>(std::move(socket), ctx, role)) {}

  executor_type get_executor() { return impl_->socket.get_executor(); }
  socket_type& socket() { return impl_->socket; }
  SSL* native_handle() { return impl_->ssl; }

  // Timeouts as in beast::basic_stream: they apply to operations started afterwards,
  // which then fail with beast::error::timeout. Each operation keeps the deadline it
  // started with, so a read left waiting (the session watching its client) is not cut
  // short by the deadline a later write sets.
  void expires_after(std::chrono::steady_clock::duration d) {
    impl_->deadline = std::chrono::steady_clock::now() + d;
  }
  void expires_never() { impl_->deadline = std::chrono::steady_clock::time_point::max(); }
  void cancel() {
    boost::system::error_code ec;
    impl_->socket.cancel(ec);
  }
  void close() {
    boost::system::error_code ec;
    impl_->socket.close(ec);
  }

  template <class Token>
  auto async_handshake(Token&& token) {
    return run(Io{[](SSL* ssl, std::size_t&) { return SSL_do_handshake(ssl); }}, token);
  }

  // Sends close_notify; does not wait for the peer's (most clients just close).
  template <class Token>
  auto async_shutdown(Token&& token) {
    return run(Io{[](SSL* ssl, std::size_t&) {
                 int rc = SSL_shutdown(ssl);
                 return rc >= 0 ? 1 : rc;
               }},
               token);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    boost::asio::mutable_buffer buf;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      buf = *it;
      if (buf.size()) break;
    }
    return run(Io{[buf](SSL* ssl, std::size_t& n) {
                 if (buf.size() == 0) return 1;
                 int rc = SSL_read(ssl, buf.data(),
                                   static_cast<int>(std::min<std::size_t>(buf.size(), INT_MAX)));
                 if (rc > 0) n = static_cast<std::size_t>(rc);
                 return rc;
               }},
               token);
  }

  // Several small buffers (a response head and its body) are joined into one write, so
  // they leave in one TLS record and one system call.
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    constexpr std::size_t kCoalesce = 16 * 1024, kKeepJoined = 4 * 1024;
    std::size_t total = boost::asio::buffer_size(buffers);
    boost::asio::const_buffer first;
    if (boost::asio::buffer_sequence_begin(buffers) != boost::asio::buffer_sequence_end(buffers))
      first = *boost::asio::buffer_sequence_begin(buffers);
    boost::asio::const_buffer buf = first;
    std::shared_ptr<std::string> large;
    if (first.size() < total && total <= kCoalesce) {
      // A small write joins into the stream's own buffer (one write is in flight on a
      // stream at a time), so a small answer costs no allocation; a larger one gets its
      // own, so that an idle connection keeps little.
      std::string* joined = &impl_->joined;
      if (total > kKeepJoined) joined = (large = std::make_shared<std::string>()).get();
      joined->clear();
      joined->reserve(total);
      for (auto it = boost::asio::buffer_sequence_begin(buffers);
           it != boost::asio::buffer_sequence_end(buffers); ++it) {
        boost::asio::const_buffer b = *it;
        joined->append(static_cast<const char*>(b.data()), b.size());
      }
      buf = boost::asio::buffer(*joined);
    } else if (first.size() == 0) {
      for (auto it = boost::asio::buffer_sequence_begin(buffers);
           it != boost::asio::buffer_sequence_end(buffers); ++it) {
        buf = *it;
        if (buf.size()) break;
      }
    }
    return run(Io{[buf, large](SSL* ssl, std::size_t& n) {
                 if (buf.size() == 0) return 1;
                 int rc = SSL_write(ssl, buf.data(),
                                    static_cast<int>(std::min<std::size_t>(buf.size(), INT_MAX)));
                 if (rc > 0) n = static_cast<std::size_t>(rc);
                 return rc;
               }},
               token);
  }

 private:
  struct Impl {
    Impl(socket_type s, SSL_CTX* ctx, Role role)
        : socket(std::move(s)),
          read_timer(socket.get_executor()),
          write_timer(socket.get_executor()) {
      ssl = SSL_new(ctx);
      boost::system::error_code ec;
      socket.non_blocking(true, ec);
      if (ssl) {
        SSL_set_fd(ssl, static_cast<int>(socket.native_handle()));
        if (role == Role::client)
          SSL_set_connect_state(ssl);
        else
          SSL_set_accept_state(ssl);
        SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      }
    }
    ~Impl() {
      if (ssl) SSL_free(ssl);
    }
    socket_type socket;
    SSL* ssl = nullptr;
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    boost::asio::steady_timer read_timer, write_timer;
    bool read_timed_out = false, write_timed_out = false;
    std::string joined;  // the buffers of a write joined into one (async_write_some)
    // Which wait a timer belongs to: a timer that fired just as its wait completed must
    // not cancel the next one.
    std::uint64_t read_tick = 0, write_tick = 0;
  };

  // One OpenSSL call, retried after the socket is ready for what OpenSSL wants.
  template <class Fn>
  struct Io {
    Fn fn;
  };
  template <class Fn>
  Io(Fn) -> Io<Fn>;

  template <class Fn>
  struct Op {
    std::shared_ptr<Impl> impl;
    Io<Fn> io;
    std::chrono::steady_clock::time_point deadline;
    enum { start, waiting_read, waiting_write } state = start;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}) {
      namespace net = boost::asio;
      if (state != start) {
        auto& timer = state == waiting_read ? impl->read_timer : impl->write_timer;
        bool& timed_out = state == waiting_read ? impl->read_timed_out : impl->write_timed_out;
        timer.cancel();
        ++(state == waiting_read ? impl->read_tick : impl->write_tick);
        if (timed_out) {
          timed_out = false;
          return self.complete(boost::beast::error::timeout, 0);
        }
        if (ec) return self.complete(ec, 0);
      }
      if (!impl->ssl) return finish(self, state == start, net::error::no_memory, 0);
      std::size_t n = 0;
      ERR_clear_error();
      int rc = io.fn(impl->ssl, n);
      if (rc > 0) return finish(self, state == start, {}, n);
      int err = SSL_get_error(impl->ssl, rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        bool read = err == SSL_ERROR_WANT_READ;
        state = read ? waiting_read : waiting_write;
        arm_timer(read);
        impl->socket.async_wait(read ? socket_type::wait_read : socket_type::wait_write,
                                std::move(self));
        return;
      }
      if (err == SSL_ERROR_ZERO_RETURN) return finish(self, state == start, net::error::eof, 0);
      unsigned long e = ERR_get_error();
      if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long result = SSL_get_verify_result(impl->ssl);
        if (result != X509_V_OK)
          return finish(self, state == start,
                        boost::system::error_code(static_cast<int>(result), verify_category()), 0);
      }
      if (e == 0) {
        // The peer closed without close_notify (or a system error).
        boost::system::error_code sys(errno, boost::system::system_category());
        if (err == SSL_ERROR_SYSCALL && errno != 0 && errno != EAGAIN)
          return finish(self, state == start, sys, 0);
        return finish(self, state == start, net::ssl::error::stream_truncated, 0);
      }
      return finish(self, state == start,
                    boost::system::error_code(static_cast<int>(e), net::error::get_ssl_category()),
                    0);
    }

    void arm_timer(bool read) {
      if (deadline == std::chrono::steady_clock::time_point::max()) return;
      auto& timer = read ? impl->read_timer : impl->write_timer;
      std::uint64_t tick = read ? impl->read_tick : impl->write_tick;
      timer.expires_at(deadline);
      timer.async_wait(
          [weak = std::weak_ptr<Impl>(impl), read, tick](boost::system::error_code ec) {
            auto impl = weak.lock();
            if (ec || !impl || tick != (read ? impl->read_tick : impl->write_tick)) return;
            (read ? impl->read_timed_out : impl->write_timed_out) = true;
            boost::system::error_code ignored;
            impl->socket.cancel(ignored);
          });
    }

    // Completing inside the initiating call would run the caller's handler before the
    // call returns; Asio's contract forbids that, so such completions are posted.
    template <class Self>
    void finish(Self& self, bool immediate, boost::system::error_code ec, std::size_t n) {
      if (!immediate) return self.complete(ec, n);
      auto ex = self.get_io_executor();
      boost::asio::post(ex, [self = std::move(self), ec, n]() mutable { self.complete(ec, n); });
    }
  };

  template <class Fn, class Token>
  auto run(Io<Fn> io, Token& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        Op<Fn>{impl_, std::move(io), impl_->deadline}, token, impl_->socket);
  }

  std::shared_ptr<Impl> impl_;
};

}  // namespace plextap::proxy
