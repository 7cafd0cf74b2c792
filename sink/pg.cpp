#include "sink/pg.hpp"

#include <libpq-fe.h>

#include <algorithm>

namespace plextap::sink {
namespace {

// libpq's messages run over several lines ("FATAL:  …\nDETAIL: …"); the first says it.
std::string first_line(const char* message) {
  std::string text = message ? message : "";
  text = text.substr(0, text.find('\n'));
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.pop_back();
  return text.empty() ? "unknown error" : text;
}

struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultFree>;

}  // namespace

std::string shown_url(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (!options) {
    std::string why = first_line(error);
    PQfreemem(error);
    throw PgError("bad PostgreSQL URL: " + why);
  }
  std::string out;
  for (PQconninfoOption* o = options; o->keyword; ++o) {
    if (!o->val || std::string_view(o->keyword) == "password") continue;
    std::string value;
    for (const char* c = o->val; *c; ++c) {
      if (*c == '\'' || *c == '\\') value += '\\';
      value += *c;
    }
    if (!out.empty()) out += ' ';
    out.append(o->keyword).append("='").append(value) += '\'';
  }
  PQconninfoFree(options);
  return out;
}

Connection::Connection(const std::string& url, int connect_timeout_s) {
  const std::string shown = shown_url(url);
  // The URL's own settings come after (expand_dbname) and win over this default.
  const std::string timeout = std::to_string(connect_timeout_s);
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), url.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, 1);
  if (!conn_) throw PgError("cannot connect to " + shown + ": out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string why = first_line(PQerrorMessage(conn_));
    PQfinish(conn_);
    throw PgError("cannot connect to " + shown + ": " + why);
  }
  // The server's notices ("already exists, skipping") are not the sink's to print.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  cancel_ = PQgetCancel(conn_);
}

Connection::~Connection() {
  {
    std::lock_guard lock(cancel_mutex_);
    if (cancel_) PQfreeCancel(cancel_);
    cancel_ = nullptr;
  }
  PQfinish(conn_);
}

void Connection::fail(std::string_view what) const {
  throw PgError(std::string(what) + ": " + first_line(PQerrorMessage(conn_)));
}

void Connection::exec(const std::string& sql) {
  Result r(PQexec(conn_, sql.c_str()));
  const auto status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail("PostgreSQL");
}

struct Connection::Answer {
  Result result;
};

Connection::Answer Connection::run(const std::string& sql,
                                   const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  Result r(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                        values.data(), nullptr, nullptr, 0));
  const auto status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail("PostgreSQL");
  return {std::move(r)};
}

std::vector<Row> Connection::query(const std::string& sql, const std::vector<std::string>& params) {
  const Answer a = run(sql, params);
  PGresult* r = a.result.get();
  std::vector<Row> rows(static_cast<std::size_t>(PQntuples(r)));
  for (int i = 0; i < PQntuples(r); ++i)
    for (int j = 0; j < PQnfields(r); ++j)
      rows[static_cast<std::size_t>(i)].push_back(
          PQgetisnull(r, i, j) ? std::nullopt : std::optional<std::string>(PQgetvalue(r, i, j)));
  return rows;
}

std::uint64_t Connection::execute(const std::string& sql, const std::vector<std::string>& params) {
  const Answer a = run(sql, params);
  const std::string count = PQcmdTuples(a.result.get());
  return count.empty() ? 0 : std::stoull(count);
}

void Connection::copy(const std::string& copy_sql, std::string_view data) {
  Result start(PQexec(conn_, copy_sql.c_str()));
  if (PQresultStatus(start.get()) != PGRES_COPY_IN) fail("PostgreSQL COPY");
  // Whole rows at a time are not needed: the server reassembles the stream.
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  for (std::size_t at = 0; at < data.size(); at += kChunk) {
    const auto n = std::min(kChunk, data.size() - at);
    if (PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) != 1) fail("PostgreSQL COPY");
  }
  if (PQputCopyEnd(conn_, nullptr) != 1) fail("PostgreSQL COPY");
  Result done(PQgetResult(conn_));
  const bool ok = PQresultStatus(done.get()) == PGRES_COMMAND_OK;
  while (Result more{PQgetResult(conn_)}) {
  }
  if (!ok) fail("PostgreSQL COPY");
}

void Connection::cancel() {
  std::lock_guard lock(cancel_mutex_);
  char error[256];
  if (cancel_) PQcancel(cancel_, error, sizeof error);
}

}  // namespace plextap::sink
