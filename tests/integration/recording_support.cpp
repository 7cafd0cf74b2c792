#include "tests/integration/recording_support.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "base/time.hpp"
#include "capture/query.hpp"
#include "tests/integration/process.hpp"

extern char** environ;

namespace plextap::itest {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct JsonLine::Doc {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
};

JsonLine::JsonLine(std::string line) : text_(std::move(line)), doc_(std::make_unique<Doc>()) {
  simdjson::dom::object object;
  auto error = doc_->parser.parse(text_).get(doc_->root);
  if (!error) error = doc_->root.get(object);
  if (error) {
    std::string what = "not a JSON object (";
    what += simdjson::error_message(error);
    what += "): ";
    what += text_.substr(0, 200);
    throw std::runtime_error(what);
  }
}

JsonLine::~JsonLine() = default;
JsonLine::JsonLine(JsonLine&&) noexcept = default;
JsonLine& JsonLine::operator=(JsonLine&&) noexcept = default;

std::string JsonLine::json(std::string_view pointer) const {
  simdjson::dom::element e;
  if (doc_->root.at_pointer(pointer).get(e)) return "<absent>";
  return simdjson::minify(e);
}

std::string JsonLine::str(std::string_view pointer) const {
  simdjson::dom::element e;
  if (doc_->root.at_pointer(pointer).get(e)) return "<absent>";
  std::string_view s;
  if (e.get(s)) {
    std::string what = "<not a string: ";
    what += simdjson::minify(e);
    what += ">";
    return what;
  }
  return std::string(s);
}

bool JsonLine::has(std::string_view pointer) const {
  simdjson::dom::element e;
  return !doc_->root.at_pointer(pointer).get(e);
}

std::vector<std::string> JsonLine::keys(std::string_view pointer) const {
  std::vector<std::string> out;
  simdjson::dom::element e;
  simdjson::dom::object object;
  if (doc_->root.at_pointer(pointer).get(e) || e.get(object)) return out;
  for (auto field : object) out.emplace_back(field.key);
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::vector<JsonLine> export_result_lines(const CliResult& run, const std::string& kind) {
  std::vector<JsonLine> lines;
  if (run.exit_code != 0) {
    ADD_FAILURE() << "export " << kind << " exited " << run.exit_code << ": " << run.err;
    return lines;
  }
  for (auto& line : split_lines(run.out)) {
    try {
      lines.emplace_back(line);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
  return lines;
}

namespace {

std::optional<int> try_reap(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) != pid) return std::nullopt;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

fs::path make_temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "plextap-child-XXXXXX").string();
  if (!::mkdtemp(pattern.data()))
    throw std::system_error(errno, std::generic_category(), "mkdtemp");
  return pattern;
}

}  // namespace

Child::Child(const std::vector<std::string>& args) : dir_(make_temp_dir()) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "pipe2");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);  // dup2 clears FD_CLOEXEC on fd 1
  posix_spawn_file_actions_addopen(&actions, 2, (dir_ / "stderr.log").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
  // The shell's dispositions, not the test's (which ignores SIGPIPE).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> argv{PLEXTAP_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  auto env = child_environment();
  auto c_argv = c_strings(argv);
  auto c_env = c_strings(env);
  int rc = posix_spawn(&pid_, c_argv[0], &actions, &attr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    throw std::system_error(rc, std::generic_category(), "posix_spawn plextap");
  }
  out_fd_ = fds[0];
  ::fcntl(out_fd_, F_SETFL, ::fcntl(out_fd_, F_GETFL) | O_NONBLOCK);
}

Child::~Child() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    wait_exit(5s);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

const std::string& Child::out() {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n > 0) {
      out_.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN (nothing waiting) or end of file
  }
  return out_;
}

std::string Child::err() const {
  return read_file(dir_ / "stderr.log");
}

bool Child::wait_out(const std::function<bool(const std::string&)>& done,
                     std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done(out())) return true;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    pollfd p{out_fd_, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 50)));
  }
}

bool Child::wait_err(const std::function<bool(const std::string&)>& done,
                     std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done(err())) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

void Child::signal(int signo) const {
  if (!exit_code_) ::kill(pid_, signo);
}

std::optional<int> Child::wait_exit(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!exit_code_) {
    out();  // keep the pipe drained, so a chatty child never blocks on it
    exit_code_ = try_reap(pid_);
    if (exit_code_ || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(5ms);
  }
  return exit_code_;
}

long long metric_value(const std::string& text, const std::string& series) {
  std::string needle = "\n";
  needle += series;
  needle += ' ';
  auto at = text.find(needle);
  if (at == std::string::npos) {
    if (!text.starts_with(series + " ")) return -1;
    at = 0;
    needle.erase(0, 1);
  }
  return std::atoll(text.c_str() + at + needle.size());
}

std::string rfc3339_ms(std::chrono::system_clock::time_point t) {
  return base::rfc3339_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
}

std::string plex_fixture(std::string_view name) {
  fs::path path = fs::path(PLEXTAP_FIXTURES_DIR) / name;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + path.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files.push_back(entry.path());
  return files;
}

std::string url_encode(std::string_view s) {
  return capture::encode_component(s);
}

}  // namespace plextap::itest
