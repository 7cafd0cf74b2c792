// The openssl command line through popen, and the TLS front: blocking OpenSSL on a
// thread per connection, relaying with poll(2) between the TLS side and the plain one.
#include "tests/integration/tls_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace plextap::itest {

ShellResult shell(const std::string& command) {
  ShellResult result;
  std::string full = "timeout 30 sh -c " + shell_quoted(command) + " </dev/null 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe))
    result.output.append(buf.data(), n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string shell_quoted(const std::filesystem::path& path) {
  std::string out = "'";
  for (char c : path.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

namespace {

void must(const ShellResult& r, const std::string& what) {
  if (r.exit_code != 0)
    throw std::runtime_error(what + " failed (" + std::to_string(r.exit_code) + "): " + r.output);
}

}  // namespace

CliResult run_certs_init(const std::filesystem::path& dir, const std::vector<std::string>& hosts) {
  std::vector<std::string> args{"certs", "init", "--out", dir.string()};
  for (const auto& h : hosts) args.insert(args.end(), {"--host", h});
  return run_plextap(args);
}

std::filesystem::path issue_certificates(const std::filesystem::path& dir,
                                         const std::vector<std::string>& hosts) {
  auto r = run_certs_init(dir, hosts);
  if (r.exit_code != 0) throw std::runtime_error("plextap certs init failed: " + r.err);
  return dir;
}

void make_pkcs12(const std::filesystem::path& cert, const std::filesystem::path& key,
                 const std::filesystem::path& out, const std::string& password,
                 const std::string& extra) {
  must(shell("openssl pkcs12 -export -in " + shell_quoted(cert) + " -inkey " + shell_quoted(key) +
             " -out " + shell_quoted(out) + " -passout " + shell_quoted("pass:" + password) + " " +
             extra),
       "openssl pkcs12 -export");
}

void make_self_signed(const std::filesystem::path& cert, const std::filesystem::path& key,
                      int days) {
  must(shell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days " +
             std::to_string(days) + " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1" +
             " -keyout " + shell_quoted(key) + " -out " + shell_quoted(cert)),
       "openssl req -x509");
}

std::string openssl_fingerprint(const std::filesystem::path& pem) {
  auto r = shell("openssl x509 -in " + shell_quoted(pem) + " -noout -fingerprint -sha256");
  auto eq = r.output.find('=');
  if (r.exit_code != 0 || eq == std::string::npos) return "openssl failed: " + r.output;
  auto end = r.output.find('\n', eq);
  return r.output.substr(eq + 1, end == std::string::npos ? end : end - eq - 1);
}

struct TlsFront::Impl {
  SSL_CTX* ctx = nullptr;
  int listen_fd = -1;
  std::uint16_t port = 0;
  std::uint16_t backend_port = 0;
  bool close_notify = true;
  std::thread accept_thread;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> completed{0};
  mutable std::mutex mu;
  std::vector<std::string> names;
  std::set<int> live_fds;
  std::vector<std::thread> threads;

  void accept_loop();
  void serve(int fd);
  int connect_backend() const;
};

TlsFront::TlsFront(std::uint16_t backend_port, const std::filesystem::path& cert_chain,
                   const std::filesystem::path& key, bool close_notify)
    : impl_(std::make_unique<Impl>()) {
  impl_->backend_port = backend_port;
  impl_->close_notify = close_notify;
  impl_->ctx = SSL_CTX_new(TLS_server_method());
  if (SSL_CTX_use_certificate_chain_file(impl_->ctx, cert_chain.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(impl_->ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error("TlsFront: cannot load " + cert_chain.string());
  impl_->listen_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(impl_->listen_fd, 64) != 0 ||
      ::getsockname(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("TlsFront: cannot listen");
  impl_->port = ntohs(addr.sin_port);
  impl_->accept_thread = std::thread([impl = impl_.get()] { impl->accept_loop(); });
}

TlsFront::~TlsFront() {
  stop();
  SSL_CTX_free(impl_->ctx);
}

std::uint16_t TlsFront::port() const {
  return impl_->port;
}

std::vector<std::string> TlsFront::server_names() const {
  std::lock_guard lock(impl_->mu);
  return impl_->names;
}

std::uint64_t TlsFront::handshakes_completed() const {
  return impl_->completed.load();
}

void TlsFront::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
    for (int fd : impl_->live_fds) ::shutdown(fd, SHUT_RDWR);
  }
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(impl_->mu);
    threads.swap(impl_->threads);
  }
  for (auto& t : threads) t.join();
  ::close(impl_->listen_fd);
}

void TlsFront::Impl::accept_loop() {
  while (!stopping) {
    pollfd p{listen_fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept(listen_fd, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard lock(mu);
    if (stopping) {
      ::close(fd);
      break;
    }
    live_fds.insert(fd);
    threads.emplace_back([this, fd] { serve(fd); });
  }
}

int TlsFront::Impl::connect_backend() const {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(backend_port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void TlsFront::Impl::serve(int fd) {
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  int backend = -1;
  const bool accepted = SSL_accept(ssl) == 1;
  {
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    std::lock_guard lock(mu);
    names.emplace_back(name ? name : "");
  }
  if (accepted) {
    ++completed;
    backend = connect_backend();
  }
  if (backend >= 0) {
    {
      std::lock_guard lock(mu);
      live_fds.insert(backend);
    }
    std::array<char, 16 * 1024> buf;
    bool open = true;
    while (open && !stopping) {
      std::array<pollfd, 2> p{pollfd{fd, POLLIN, 0}, pollfd{backend, POLLIN, 0}};
      // Bytes OpenSSL has already taken off the socket do not show in poll.
      if (SSL_pending(ssl) == 0 && ::poll(p.data(), 2, 50) <= 0) continue;
      if (SSL_pending(ssl) > 0 || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
        int n = SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
        if (n <= 0 || ::send(backend, buf.data(), static_cast<std::size_t>(n), MSG_NOSIGNAL) != n)
          open = false;
      }
      if (open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = ::recv(backend, buf.data(), buf.size(), 0);
        if (n <= 0 || SSL_write(ssl, buf.data(), static_cast<int>(n)) != n) open = false;
      }
    }
    if (close_notify) SSL_shutdown(ssl);
  }
  ERR_clear_error();
  {
    std::lock_guard lock(mu);
    live_fds.erase(fd);
    if (backend >= 0) live_fds.erase(backend);
  }
  if (backend >= 0) ::close(backend);
  SSL_free(ssl);
  ::close(fd);
}

}  // namespace plextap::itest
