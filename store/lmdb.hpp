// Thin RAII over the LMDB C API: an environment, transactions, cursors. Errors become
// store::Error (an exception carrying LMDB's code) so callers decide what a failure means.
//
// LMDB trusts its pages: it keeps no checksum, and a damaged page can send it reading past
// the file (SIGSEGV, SIGBUS) or into one of its assertions (abort). So the calls of a read
// transaction that read pages (gets, cursor moves) run under a guard that turns such a
// fault into an Error (a write that faults still ends the process), and every key and
// value a read transaction hands out is checked to lie within the file's committed pages
// before anyone reads it: a damaged store is an error, never a crash. Damage that leaves
// LMDB's structure intact is caught by the records' own checksums (store.hpp).
#pragma once

#include <lmdb.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace plextap::store {

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, int code, bool damaged = false);
  int code() const { return code_; }
  // The store's bytes are not what was written (a damaged page, a file cut short), as
  // opposed to a store that cannot be reached or written at the moment.
  bool damaged() const { return damaged_; }

 private:
  int code_;
  bool damaged_;
};

inline MDB_val to_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view to_sv(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

class Env {
 public:
  struct Options {
    std::size_t initial_map_size = std::size_t{256} << 20;
    bool read_only = false;
  };
  // Throws Error; for a read-only open that the file permissions refuse, the message
  // names the file and the access this user lacks.
  Env(const std::filesystem::path& dir, const Options& options);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  MDB_env* get() const { return env_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::size_t map_size() const;
  // Waits until no other transaction of this process is open (LMDB forbids a resize
  // under one), holding new ones back meanwhile; the caller must hold none itself.
  void set_map_size(std::size_t bytes);
  // Takes the size another process grew the map to (after MDB_MAP_RESIZED).
  void adopt_map_size();
  void sync();
  bool read_only() const { return read_only_; }

  // The committed pages of data.mdb as mapped in this process: every key and value a read
  // transaction returns lies inside. Throws a damage Error when the file is shorter than
  // its pages (cut short). Unbounded when the map could not be located.
  struct Span {
    std::uintptr_t begin = 0, end = UINTPTR_MAX;
    bool contains(std::string_view bytes) const {
      auto at = reinterpret_cast<std::uintptr_t>(bytes.data());
      return at >= begin && at <= end && bytes.size() <= end - at;
    }
  };
  Span committed() const;

  // The Error for LMDB's `rc` from `what` (damage when the code says the pages are bad).
  Error error(int rc, const std::string& what) const;
  // The Error for a store whose bytes are not what was written.
  Error damage(const std::string& detail) const;

 private:
  void locate_map();

  std::filesystem::path dir_;
  MDB_env* env_ = nullptr;
  bool read_only_;
  int fd_ = -1;
  std::size_t page_size_ = 4096;
  std::atomic<std::uintptr_t> map_begin_{0}, map_end_{0};

  // Open transactions, so that a resize waits for them (see Txn).
  friend class Txn;
  void begin_txn();
  void end_txn();
  void resize(std::size_t bytes);
  std::mutex txn_mutex_;
  std::condition_variable txn_done_;
  unsigned open_txns_ = 0;
  bool resizing_ = false;
};

class Txn {
 public:
  Txn(Env& env, bool write);
  ~Txn();
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  MDB_txn* get() const { return txn_; }
  Env& env() const { return env_; }
  void commit();
  void abort();
  MDB_dbi open_db(const char* name, unsigned flags = 0);

  std::optional<std::string_view> get(MDB_dbi dbi, std::string_view key) const;
  void put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  // Deletes `key` (write transactions); false when it was not there.
  bool del(MDB_dbi dbi, std::string_view key);

  // Runs an LMDB call that reads pages, in a read transaction under the fault guard;
  // returns its code. A fault throws a damage Error. In a write transaction it runs as is.
  template <class Call>
  int guarded(const char* what, Call&& call) const;
  // `v` as a view, after checking that it lies in the file (read transactions).
  std::string_view checked(const MDB_val& v, const char* what) const;
  // Gives the pages of the map read so far back (MADV_DONTNEED): they stay in the page
  // cache, and views into them stay valid, but they no longer count as this process's
  // memory. For a read of the whole store, every few thousand records.
  void release_pages() const;

 private:
  int run_guarded(const char* what, int (*call)(void*), void* context) const;

  Env& env_;
  mutable MDB_txn* txn_ = nullptr;
  bool write_;
  Env::Span span_;
};

template <class Call>
int Txn::guarded(const char* what, Call&& call) const {
  return run_guarded(
      what, [](void* c) -> int { return (*static_cast<Call*>(c))(); },
      const_cast<void*>(static_cast<const void*>(&call)));
}

class Cursor {
 public:
  Cursor(const Txn& txn, MDB_dbi dbi);
  ~Cursor();
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  // Positions at the first key >= `key`; false past the end.
  bool seek(std::string_view key);
  bool first();
  bool last();
  bool next();
  bool prev();
  std::string_view key() const { return key_; }
  std::string_view value() const { return value_; }

 private:
  bool move(MDB_cursor_op op);
  const Txn& txn_;
  MDB_cursor* cursor_ = nullptr;
  std::string_view key_, value_;
};

// Big-endian 64-bit keys sort numerically under LMDB's byte-wise comparison.
inline std::string encode_u64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8)
    s[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xff);
  return s;
}
inline std::uint64_t decode_u64(std::string_view s) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8 && i < s.size(); ++i)
    v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

}  // namespace plextap::store
