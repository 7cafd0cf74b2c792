// The admin listener and its HTTP/1.1 connections.
#include "proxy/admin.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <optional>
#include <stdexcept>

#include "base/json_writer.hpp"
#include "base/percent.hpp"
#include "net/use_tuple.hpp"

namespace plextap::proxy {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

namespace {
using ::plextap::net::kUseTuple;

bool open_path(std::string_view path) {
  return path == "/metrics" || path == "/healthz" || path == "/readyz";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of the cookie `name` in a Cookie header ("a=1; b=2"), percent-decoded.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto end = header.find(';');
    auto pair = trim(header.substr(0, end));
    header = end == std::string_view::npos ? std::string_view{} : header.substr(end + 1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name)
      return base::percent_decode(pair.substr(eq + 1), base::Plus::literal);
  }
  return std::nullopt;
}

std::string json_error(std::string_view message) {
  std::string out = "{\"error\":";
  base::append_json_string(out, message);
  return out + "}\n";
}

constexpr std::string_view kLoginPage = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>plextap: admin token required</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:3em auto;padding:0 1em;color:#1d2327}code{background:#f1f1f1;padding:0 .2em}</style>
</head><body><h1>Admin token required</h1>
<p>This dashboard is behind the admin token of <code>plextap serve --admin-token</code>.
Open it once as <code>/?token=YOUR_TOKEN</code>: the token is kept in a cookie and taken out of the address.</p>
</body></html>
)";
}  // namespace

bool same_secret(std::string_view a, std::string_view b) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> da{}, db{};
  unsigned la = 0, lb = 0;
  if (!EVP_Digest(a.data(), a.size(), da.data(), &la, EVP_sha256(), nullptr) ||
      !EVP_Digest(b.data(), b.size(), db.data(), &lb, EVP_sha256(), nullptr) || la != lb)
    return false;
  return CRYPTO_memcmp(da.data(), db.data(), la) == 0;
}

bool loopback_host(std::string_view host) {
  std::string_view name = host;
  if (name.starts_with('[')) {
    const auto close = name.find(']');
    if (close == std::string_view::npos) return false;
    const auto rest = name.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return false;
    name = name.substr(1, close - 1);
  } else if (const auto colon = name.rfind(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  if (beast::iequals(name, "localhost")) return true;
  boost::system::error_code ec;
  const auto address = net::ip::make_address(std::string(name), ec);
  return !ec && address.is_loopback();
}

AdminAccess check_admin_access(std::string_view token, std::string_view target,
                               std::string_view authorization, std::string_view cookie) {
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  AdminAccess a;
  if (open_path(path)) {
    a.verdict = AdminAccess::open;
    return a;
  }
  if (token.empty()) {
    a.verdict = AdminAccess::allowed;
    return a;
  }
  // A link with the token: the redirect drops it (and any other copy of it) from the target.
  if (question != std::string_view::npos) {
    std::string_view query = target.substr(question + 1);
    std::string rest;
    bool had_token = false, good = true;
    for (;;) {
      auto end = query.find('&');
      auto param = query.substr(0, end);
      auto eq = param.find('=');
      if (base::percent_decode(param.substr(0, eq), base::Plus::space) == "token") {
        had_token = true;
        std::string value = eq == std::string_view::npos
                                ? std::string()
                                : base::percent_decode(param.substr(eq + 1), base::Plus::space);
        good = same_secret(value, token) && good;
      } else if (!param.empty()) {
        rest += rest.empty() ? "" : "&";
        rest += param;
      }
      if (end == std::string_view::npos) break;
      query.remove_prefix(end + 1);
    }
    if (had_token) {
      if (!good) return a;
      a.verdict = AdminAccess::redirect;
      // Only ever to a path of this listener ("//host" would leave it).
      const bool local = path.starts_with('/') && !path.starts_with("//") &&
                         path.find('\\') == std::string_view::npos;
      a.location = (local ? std::string(path) : "/") + (rest.empty() ? "" : "?" + rest);
      a.set_cookie = std::string(kAdminCookie) + "=" + base::percent_encode(token) +
                     "; HttpOnly; SameSite=Strict; Path=/";
      return a;
    }
  }
  authorization = trim(authorization);
  if (authorization.size() > 7 && beast::iequals(authorization.substr(0, 7), "Bearer ") &&
      same_secret(trim(authorization.substr(7)), token)) {
    a.verdict = AdminAccess::allowed;
    return a;
  }
  if (auto value = cookie_value(cookie, kAdminCookie); value && same_secret(*value, token))
    a.verdict = AdminAccess::allowed;
  return a;
}

Admin::Admin(Worker& worker, const Shared& shared, MetricsSource own,
             std::vector<MetricsSource> sources)
    : worker_(worker), shared_(shared), own_(std::move(own)), sources_(std::move(sources)) {}

void Admin::start(const Endpoint& address) {
  acceptor_ = std::make_unique<tcp::acceptor>(worker_.ioc);
  tcp::resolver resolver(worker_.ioc);
  boost::system::error_code ec;
  auto results =
      resolver.resolve(address.host, std::to_string(address.port), tcp::resolver::passive, ec);
  if (!ec) {
    acceptor_->open(results.begin()->endpoint().protocol(), ec);
    if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(results.begin()->endpoint(), ec);
    if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec)
    throw std::runtime_error("cannot listen on admin address " + address.host + ":" +
                             std::to_string(address.port) + ": " + ec.message());
  spdlog::info("admin on http://{}:{}", address.host, acceptor_->local_endpoint().port());
  net::co_spawn(worker_.ioc, accept_loop(), net::detached);
}

void Admin::stop() {
  boost::system::error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
}

std::string Admin::metrics_text() const {
  std::string text = own_();
  for (const auto& source : sources_) text += source();
  return text;
}

// Every path but the three above: the token first, then the routes the config gave.
void Admin::answer_routed(const http::request<http::string_body>& req,
                          http::response<http::string_body>& res) const {
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  const bool api = path.starts_with("/api/");
  const auto& config = shared_.config;
  auto header = [&](http::field f) {
    auto it = req.find(f);
    return it == req.end() ? std::string_view{}
                           : std::string_view(it->value().data(), it->value().size());
  };
  res.set(http::field::cache_control, "no-store");
  AdminAccess access = check_admin_access(
      config.admin_token, target, header(http::field::authorization), header(http::field::cookie));
  if (access.verdict == AdminAccess::redirect) {
    res.result(http::status::see_other);
    res.set(http::field::location, access.location);
    res.set(http::field::set_cookie, access.set_cookie);
    res.body() = "see " + access.location + "\n";
    return;
  }
  // Without a token the admin listener is on loopback (serve refuses it elsewhere), and
  // only a request that names loopback is answered.
  if (config.admin_token.empty() && !loopback_host(header(http::field::host))) {
    res.result(http::status::forbidden);
    res.set(http::field::content_type, api ? "application/json" : "text/plain; charset=utf-8");
    const std::string why =
        "the dashboard answers only requests for localhost or a loopback address; set "
        "--admin-token to reach it by another name";
    res.body() = api ? json_error(why) : why + "\n";
    return;
  }
  if (access.verdict == AdminAccess::refused) {
    res.result(http::status::unauthorized);
    res.set(http::field::www_authenticate, "Bearer realm=\"plextap admin\"");
    if (api) {
      res.set(http::field::content_type, "application/json");
      res.body() = json_error(
          "admin token required: send Authorization: Bearer TOKEN, or open /?token=TOKEN once");
    } else {
      res.set(http::field::content_type, "text/html; charset=utf-8");
      res.body() = std::string(kLoginPage);
    }
    return;
  }
  if (!config.admin_routes) {
    res.result(http::status::not_found);
    res.body() = "not found; try /metrics, /healthz or /readyz\n";
    return;
  }
  const std::string_view method(req.method_string().data(), req.method_string().size());
  AdminAnswer answer = config.admin_routes(AdminRequest{method, target});
  res.result(static_cast<http::status>(answer.status));
  res.set(http::field::content_type, answer.content_type);
  for (const auto& [name, value] : answer.headers) res.set(name, value);
  res.body() = std::move(answer.body);
}

net::awaitable<void> Admin::accept_loop() {
  // Only closing the listener (shutdown) ends this loop: any other failure is logged and
  // the loop goes on after a pause, as the client listeners' do.
  auto on_session_end = [this](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& error) {
      worker_.warn_limited(std::string("admin request failed: ") + error.what());
    } catch (...) {
      worker_.warn_limited("admin request failed");
    }
  };
  for (;;) {
    bool pause = false;
    try {
      auto [ec, socket] = co_await acceptor_->async_accept(kUseTuple);
      if (ec == net::error::operation_aborted || !acceptor_->is_open()) co_return;
      if (ec) {
        // Out of file descriptors the listener stays readable and an immediate retry fails
        // again: wait a little instead of spinning.
        worker_.warn_limited("admin accept failed: " + ec.message());
        pause = true;
      } else {
        net::co_spawn(worker_.ioc, serve(std::move(socket)), on_session_end);
      }
    } catch (const std::exception& e) {
      worker_.warn_limited(std::string("admin listener: ") + e.what());
      pause = true;
    }
    if (pause) {
      net::steady_timer timer(worker_.ioc, std::chrono::milliseconds(50));
      co_await timer.async_wait(kUseTuple);
    }
  }
}

net::awaitable<void> Admin::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_read(stream, buffer, req, kUseTuple);
    if (ec) break;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "plextap");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    auto path = req.target().substr(0, req.target().find('?'));
    if (path == "/metrics") {
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = metrics_text();
    } else if (path == "/healthz") {
      res.body() = "ok\n";
    } else if (path == "/readyz") {
      if (shared_.draining) {
        res.result(http::status::service_unavailable);
        res.body() = "draining\n";
      } else if (!shared_.tap.healthy()) {
        res.result(http::status::service_unavailable);
        res.body() = "degraded: recording is failing, forwarding continues\n";
      } else {
        res.body() = "ready\n";
      }
    } else {
      answer_routed(req, res);
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    std::tie(ec, n) = co_await http::async_write(stream, res, kUseTuple);
    if (ec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace plextap::proxy
