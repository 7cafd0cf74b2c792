// The one place libpq is used: a connection, statements with text parameters, COPY, and the
// connection string shown without its password. libpq itself reads the password from the
// URL, PGPASSWORD or ~/.pgpass and honours sslmode; nothing here logs a password.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct pg_conn;
struct pg_cancel;

namespace plextap::sink {

// A failure of the database or of talking to it: one line, password-free.
struct PgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `url` (a conninfo string or a postgres:// URI) as it may be shown: every setting but the
// password, as a conninfo string. Throws PgError when libpq cannot parse it.
std::string shown_url(const std::string& url);

using Row = std::vector<std::optional<std::string>>;  // null: SQL NULL

class Connection {
 public:
  // Connects (at most `connect_timeout_s` unless the URL gives its own); throws PgError
  // naming the shown URL and libpq's reason.
  explicit Connection(const std::string& url, int connect_timeout_s = 5);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `sql` (one or more statements without parameters); throws PgError.
  void exec(const std::string& sql);
  // One statement with $1… as text parameters: the rows it answers, or (execute) how many
  // rows it changed.
  std::vector<Row> query(const std::string& sql, const std::vector<std::string>& params = {});
  std::uint64_t execute(const std::string& sql, const std::vector<std::string>& params = {});
  // `COPY … FROM STDIN` with `data` in COPY's text format.
  void copy(const std::string& copy_sql, std::string_view data);

  // From any thread: asks the server to cancel the statement in progress (it then fails).
  void cancel();

 private:
  [[noreturn]] void fail(std::string_view what) const;
  struct Answer;
  Answer run(const std::string& sql, const std::vector<std::string>& params);

  pg_conn* conn_ = nullptr;
  std::mutex cancel_mutex_;
  pg_cancel* cancel_ = nullptr;
};

}  // namespace plextap::sink
