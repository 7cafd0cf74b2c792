#include "tests/integration/pg_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace plextap::itest {
namespace fs = std::filesystem;

namespace {

// The newest installed server (Debian puts each major version in its own directory).
std::string server_bin_dir() {
  std::string best;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec))
    if (fs::exists(entry.path() / "bin" / "initdb") &&
        (best.empty() || std::stoi(entry.path().filename().string()) >
                             std::stoi(fs::path(best).parent_path().filename().string())))
      best = (entry.path() / "bin").string();
  if (best.empty())
    throw std::runtime_error("no PostgreSQL server under /usr/lib/postgresql (scripts/dev deps)");
  return best;
}

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// `command` through the shell: its exit status, its output in `out` (stderr included).
int shell(const std::string& command, std::string& out) {
  std::FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + command);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void must(const std::string& command) {
  std::string out;
  if (shell(command, out) != 0) throw std::runtime_error(command + ": " + out);
}

}  // namespace

PgCluster::PgCluster() : bin_(server_bin_dir()), port_(free_port()) {
  if (::geteuid() == 0) {
    owner_ = "nobody";
    const passwd* pw = ::getpwnam(owner_.c_str());
    if (!pw) throw std::runtime_error("no user nobody to run PostgreSQL as");
    if (::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("cannot hand " + dir_.path().string() + " to nobody");
  }
  std::ofstream(dir_.path() / "pw") << kPassword << "\n";
  if (!owner_.empty()) must("chown " + owner_ + " " + (dir_.path() / "pw").string());
  must(as_owner(bin_ + "/initdb -D " + (dir_.path() / "db").string() +
                " -U postgres -E UTF8 --no-sync --auth-local=trust --auth-host=scram-sha-256"
                " --pwfile=" + (dir_.path() / "pw").string()));
  start();
}

PgCluster::~PgCluster() {
  if (running_) {
    std::string out;
    shell(as_owner(bin_ + "/pg_ctl -D " + (dir_.path() / "db").string() + " -w -m immediate stop"),
          out);
  }
}

std::string PgCluster::as_owner(const std::string& command) const {
  if (owner_.empty()) return command;
  return "su -s /bin/sh " + owner_ + " -c '" + command + "'";
}

void PgCluster::start() {
  must(as_owner(bin_ + "/pg_ctl -D " + (dir_.path() / "db").string() + " -w -t 60 -l " +
                (dir_.path() / "log").string() + " -o \"-h 127.0.0.1 -p " +
                std::to_string(port_) + " -k " + dir_.path().string() + "\" start"));
  running_ = true;
}

void PgCluster::stop() {
  must(as_owner(bin_ + "/pg_ctl -D " + (dir_.path() / "db").string() + " -w -m fast stop"));
  running_ = false;
}

std::string PgCluster::conninfo(const std::string& database, const std::string& password) const {
  std::string s = "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" +
                  database + " sslmode=disable";
  if (!password.empty()) s += " password=" + password;
  return s;
}

std::string PgCluster::uri(const std::string& database, const std::string& password) const {
  return "postgres://postgres" + (password.empty() ? "" : ":" + password) + "@127.0.0.1:" +
         std::to_string(port_) + "/" + database + "?sslmode=disable";
}

void PgCluster::create_database(const std::string& name) {
  sql("CREATE DATABASE " + name);
}

std::string PgCluster::sql(const std::string& sql, const std::string& database) const {
  const fs::path file = dir_.path() / "query.sql";
  std::ofstream(file) << sql << "\n";
  std::string out;
  const int rc = shell("PGPASSWORD=" + std::string(kPassword) + " psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " +
                           std::to_string(port_) + " -U postgres -d " + database + " -f " +
                           file.string(),
                       out);
  if (rc != 0) throw std::runtime_error("psql: " + out + "\nin: " + sql);
  return out;
}

std::string PgCluster::value(const std::string& query, const std::string& database) const {
  std::string out = sql(query, database);
  return out.substr(0, out.find('\n'));
}

void PgCluster::load_lines(const std::string& table, const std::string& text,
                           const std::string& database) {
  const fs::path file = dir_.path() / (table + ".jsonl");
  std::ofstream(file) << text;
  // CSV with quote and delimiter characters no JSON line holds: each line is one value.
  sql("CREATE TABLE " + table + " (line jsonb);\n\\copy " + table + " (line) FROM '" +
          file.string() + "' WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')",
      database);
}

}  // namespace plextap::itest
