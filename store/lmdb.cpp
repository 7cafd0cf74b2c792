#include "store/lmdb.hpp"

namespace plextap::store {
namespace {

void check(int rc, const char* what) {
  if (rc != MDB_SUCCESS) throw Error(std::string(what) + ": " + mdb_strerror(rc), rc);
}

}  // namespace

Error::Error(const std::string& what, int code) : std::runtime_error(what), code_(code) {}

Env::Env(const std::filesystem::path& dir, const Options& options) : read_only_(options.read_only) {
  check(mdb_env_create(&env_), "cannot create LMDB environment");
  mdb_env_set_maxdbs(env_, 16);
  mdb_env_set_maxreaders(env_, 256);
  unsigned flags = MDB_NOTLS;
  if (options.read_only) {
    flags |= MDB_RDONLY;
  } else {
    // Durable against a killed process (the page cache survives it); the writer syncs
    // to disk on its own schedule rather than on every commit.
    flags |= MDB_NOSYNC;
    check(mdb_env_set_mapsize(env_, options.initial_map_size), "cannot size store");
  }
  int rc = mdb_env_open(env_, dir.c_str(), flags, 0600);
  if (rc != MDB_SUCCESS) {
    mdb_env_close(env_);
    env_ = nullptr;
    throw Error("cannot open store " + dir.string() + ": " + mdb_strerror(rc), rc);
  }
}

Env::~Env() {
  if (env_) mdb_env_close(env_);
}

std::size_t Env::map_size() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

void Env::set_map_size(std::size_t bytes) {
  check(mdb_env_set_mapsize(env_, bytes), "cannot grow store");
}

void Env::sync() {
  check(mdb_env_sync(env_, 1), "cannot sync store");
}

Txn::Txn(Env& env, bool write) {
  int rc = mdb_txn_begin(env.get(), nullptr, write ? 0 : MDB_RDONLY, &txn_);
  if (rc == MDB_MAP_RESIZED) {
    // Another process grew the map: adopt its size and try again.
    mdb_env_set_mapsize(env.get(), 0);
    rc = mdb_txn_begin(env.get(), nullptr, write ? 0 : MDB_RDONLY, &txn_);
  }
  check(rc, "cannot begin store transaction");
}

Txn::~Txn() {
  abort();
}

void Txn::commit() {
  MDB_txn* t = txn_;
  txn_ = nullptr;
  check(mdb_txn_commit(t), "cannot commit to store");
}

void Txn::abort() {
  if (txn_) mdb_txn_abort(txn_);
  txn_ = nullptr;
}

MDB_dbi Txn::open_db(const char* name, unsigned flags) {
  MDB_dbi dbi;
  check(mdb_dbi_open(txn_, name, flags, &dbi), "cannot open store table");
  return dbi;
}

std::optional<std::string_view> Txn::get(MDB_dbi dbi, std::string_view key) const {
  MDB_val k = to_val(key), v;
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "cannot read store");
  return to_sv(v);
}

void Txn::put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = to_val(key), v = to_val(value);
  check(mdb_put(txn_, dbi, &k, &v, flags), "cannot write store");
}

Cursor::Cursor(const Txn& txn, MDB_dbi dbi) {
  check(mdb_cursor_open(txn.get(), dbi, &cursor_), "cannot open store cursor");
}

Cursor::~Cursor() {
  if (cursor_) mdb_cursor_close(cursor_);
}

bool Cursor::move(MDB_cursor_op op) {
  int rc = mdb_cursor_get(cursor_, &key_, &value_, op);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "cannot read store");
  return true;
}

bool Cursor::seek(std::string_view key) {
  key_ = to_val(key);
  return move(MDB_SET_RANGE);
}
bool Cursor::first() {
  return move(MDB_FIRST);
}
bool Cursor::last() {
  return move(MDB_LAST);
}
bool Cursor::next() {
  return move(MDB_NEXT);
}
bool Cursor::prev() {
  return move(MDB_PREV);
}

}  // namespace plextap::store
