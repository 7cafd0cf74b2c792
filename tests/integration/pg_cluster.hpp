// A PostgreSQL cluster of a test's own: initdb in a temporary directory, the server on
// 127.0.0.1 and a free port (its socket in that directory too), stopped and removed with
// the object. initdb and postgres refuse to run as root: as root (a fresh CI machine), the
// cluster runs as `nobody`. The superuser `postgres` has a password over TCP, so tests can
// give a wrong one; psql is how tests query it.
#pragma once

#include <cstdint>
#include <string>

#include "tests/integration/process.hpp"

namespace plextap::itest {

class PgCluster {
 public:
  static constexpr const char* kPassword = "s3cret-Pw";

  PgCluster();  // throws std::runtime_error with initdb's or pg_ctl's words
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  std::uint16_t port() const { return port_; }
  // A libpq conninfo string for `database`, with `password` (empty: none, e.g. for PGPASSWORD).
  std::string conninfo(const std::string& database = "postgres",
                       const std::string& password = kPassword) const;
  // The same as a postgres:// URI.
  std::string uri(const std::string& database = "postgres",
                  const std::string& password = kPassword) const;

  void create_database(const std::string& name);
  // Runs `sql` with psql in `database`: its output (unaligned, tuples only), or throws with
  // psql's error.
  std::string sql(const std::string& sql, const std::string& database = "postgres") const;
  // One value: the first line of sql().
  std::string value(const std::string& sql, const std::string& database = "postgres") const;
  // Loads the lines of `text` (JSON records) into a new table `table`(line jsonb).
  void load_lines(const std::string& table, const std::string& text, const std::string& database);

  // The server goes away and comes back on the same port.
  void stop();
  void start();

 private:
  std::string as_owner(const std::string& command) const;

  TempDir dir_;
  std::string bin_, owner_;
  std::uint16_t port_ = 0;
  bool running_ = false;
};

}  // namespace plextap::itest
