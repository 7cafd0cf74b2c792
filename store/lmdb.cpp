// The RAII layer over LMDB (lmdb.hpp): environment, transactions, cursors, the read guard
// that turns a damaged page into an Error, and the diagnosis of a store that cannot be
// opened (owner, mode, user). About 400 lines: each part is small, all wrap one C API.
#include "store/lmdb.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace plextap::store {
namespace {

// LMDB's codes that mean its pages are not what it wrote. (MDB_BAD_TXN follows an
// earlier such error in the same transaction; MDB_CURSOR_FULL is a loop of pages.)
bool is_damage(int rc) {
  switch (rc) {
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_BAD_TXN:
    case MDB_CURSOR_FULL:
    case MDB_PANIC:
    case MDB_INCOMPATIBLE:
      return true;
    default:
      return false;
  }
}

// --- The fault guard -------------------------------------------------------------------
// A damaged page can make LMDB read outside the map (SIGSEGV), past the end of the file
// (SIGBUS), or fail one of its assertions (which aborts). While a thread is inside a
// guarded LMDB call, those come back to the call's site through siglongjmp, and the call
// fails with a damage Error. Anywhere else the signal does what it did before.
struct Guard {
  sigjmp_buf jump;
  int signal = 0;
  char assertion[256] = {};
};
thread_local Guard* t_guard = nullptr;
struct sigaction g_previous_segv, g_previous_bus;

void pass_on(int signo, siginfo_t* info, void* context) {
  const struct sigaction& previous = signo == SIGBUS ? g_previous_bus : g_previous_segv;
  if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
    previous.sa_sigaction(signo, info, context);
    return;
  }
  if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signo);
    return;
  }
  // Back to the default action: the faulting access runs again and ends the process.
  ::sigaction(signo, &previous, nullptr);
}

extern "C" void on_fault(int signo, siginfo_t* info, void* context) {
  if (Guard* guard = t_guard) {
    t_guard = nullptr;
    guard->signal = signo;
    siglongjmp(guard->jump, 1);
  }
  pass_on(signo, info, context);
}

// LMDB calls this before it aborts on a failed assertion.
extern "C" void on_assert(MDB_env*, const char* message) {
  if (Guard* guard = t_guard) {
    t_guard = nullptr;
    std::snprintf(guard->assertion, sizeof guard->assertion, "%s", message);
    siglongjmp(guard->jump, 1);
  }
}

void install_fault_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_fault;
    // SA_NODEFER: the jump leaves the handler without restoring the signal mask.
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGSEGV, &action, &g_previous_segv);
    ::sigaction(SIGBUS, &action, &g_previous_bus);
  });
}

// --- Why a read-only open was refused --------------------------------------------------
std::string user_name(uid_t uid) {
  if (const passwd* pw = ::getpwuid(uid)) return pw->pw_name;
  return "uid " + std::to_string(uid);
}

std::string owner_and_mode(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return " (owned by " + user_name(st.st_uid) + ", mode " + mode + ")";
}

bool may(const std::filesystem::path& path, int mode) {
  return ::faccessat(AT_FDCWD, path.c_str(), mode, AT_EACCESS) == 0;
}

// One sentence naming the file and the access this user lacks, or "" when the
// permissions do not explain the refusal.
std::string access_problem(const std::filesystem::path& dir) {
  const std::string who = "this user (" + user_name(::geteuid()) + ")";
  const auto data = dir / "data.mdb", lock = dir / "lock.mdb";
  if (!may(dir, X_OK))
    return who + " may not enter the store directory " + dir.string() + owner_and_mode(dir);
  if (!may(data, R_OK)) return who + " may not read " + data.string() + owner_and_mode(data);
  if (::access(lock.c_str(), F_OK) == 0 && !may(lock, W_OK))
    return "even to read, LMDB writes its lock file " + lock.string() + ", which " + who +
           " may not" + owner_and_mode(lock) + "; run as that owner, or let this user write it";
  if (::access(lock.c_str(), F_OK) != 0 && !may(dir, W_OK))
    return "even to read, LMDB creates its lock file " + lock.string() + ", and " + who +
           " may not write in " + dir.string() + owner_and_mode(dir);
  return "";
}

}  // namespace

Error::Error(const std::string& what, int code, bool damaged)
    : std::runtime_error(what), code_(code), damaged_(damaged) {}

Env::Env(const std::filesystem::path& dir, const Options& options)
    : dir_(dir), read_only_(options.read_only) {
  install_fault_handlers();
  if (int rc = mdb_env_create(&env_); rc != MDB_SUCCESS)
    throw error(rc, "cannot create LMDB environment");
  mdb_env_set_assert(env_, on_assert);
  mdb_env_set_maxdbs(env_, 16);
  mdb_env_set_maxreaders(env_, 256);
  unsigned flags = MDB_NOTLS;
  if (options.read_only) {
    flags |= MDB_RDONLY;
  } else {
    // Durable against a killed process (the page cache survives it); the writer syncs
    // to disk on its own schedule rather than on every commit.
    flags |= MDB_NOSYNC;
    mdb_env_set_mapsize(env_, options.initial_map_size);
  }
  int rc = mdb_env_open(env_, dir.c_str(), flags, 0600);
  if (rc != MDB_SUCCESS) {
    mdb_env_close(env_);
    env_ = nullptr;
    std::string problem = rc == EACCES ? access_problem(dir) : "";
    if (!problem.empty())
      throw Error("cannot open the store " + dir.string() + (read_only_ ? " read-only" : "") +
                      ": " + problem,
                  rc);
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
      throw Error(
          "the store " + dir.string() + " is damaged or not an LMDB store: " + mdb_strerror(rc), rc,
          true);
    throw Error("cannot open store " + dir.string() + ": " + mdb_strerror(rc), rc);
  }
  mdb_filehandle_t fd;
  if (mdb_env_get_fd(env_, &fd) == MDB_SUCCESS) fd_ = fd;
  MDB_stat stat;
  if (mdb_env_stat(env_, &stat) == MDB_SUCCESS && stat.ms_psize) page_size_ = stat.ms_psize;
  locate_map();
}

Env::~Env() {
  if (env_) mdb_env_close(env_);
}

Error Env::error(int rc, const std::string& what) const {
  if (is_damage(rc))
    return Error(
        "the store " + dir_.string() + " is damaged: " + what + " (" + mdb_strerror(rc) + ")", rc,
        true);
  return Error(what + ": " + mdb_strerror(rc), rc);
}

Error Env::damage(const std::string& detail) const {
  return Error("the store " + dir_.string() + " is damaged: " + detail, MDB_CORRUPTED, true);
}

// LMDB does not say where it mapped data.mdb; the kernel does, in /proc/self/maps.
void Env::locate_map() {
  map_begin_ = 0;
  map_end_ = 0;
  struct stat st {};
  if (fd_ < 0 || ::fstat(fd_, &st) != 0) return;
  std::FILE* maps = std::fopen("/proc/self/maps", "r");
  if (!maps) return;
  std::error_code ec;
  const std::string path = std::filesystem::canonical(dir_ / "data.mdb", ec).string();
  char line[4096];
  while (std::fgets(line, sizeof line, maps)) {
    unsigned long begin, end, offset, inode;
    unsigned major_dev, minor_dev;
    char perms[8];
    int name_at = 0;
    if (std::sscanf(line, "%lx-%lx %7s %lx %x:%x %lu %n", &begin, &end, perms, &offset, &major_dev,
                    &minor_dev, &inode, &name_at) < 7 ||
        offset != 0)
      continue;
    std::string_view name(line + name_at);
    if (!name.empty() && name.back() == '\n') name.remove_suffix(1);
    // The inode identifies the file; on overlay file systems the kernel may show the
    // layer's inode instead, and the path is the fallback.
    const bool same_inode = inode == st.st_ino && ::makedev(major_dev, minor_dev) == st.st_dev;
    if (same_inode || (!path.empty() && name == path)) {
      map_begin_ = begin;
      map_end_ = end;
      break;
    }
  }
  std::fclose(maps);
}

Env::Span Env::committed() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  const std::uint64_t needed = (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * page_size_;
  struct stat st {};
  if (fd_ >= 0 && ::fstat(fd_, &st) == 0 && static_cast<std::uint64_t>(st.st_size) < needed)
    throw damage("data.mdb is " + std::to_string(st.st_size) + " bytes, but its pages need " +
                 std::to_string(needed) + ": the file was cut short");
  Span span;
  const std::uintptr_t begin = map_begin_.load(), end = map_end_.load();
  if (begin && end > begin) {
    span.begin = begin;
    span.end = begin + std::min<std::uint64_t>(needed, end - begin);
  }
  return span;
}

std::size_t Env::map_size() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

namespace {
// Transactions this thread has open (any environment): a thread that holds one already
// must not wait for a resize, which waits for it.
thread_local unsigned t_open_txns = 0;
}  // namespace

void Env::begin_txn() {
  std::unique_lock lock(txn_mutex_);
  if (t_open_txns == 0) txn_done_.wait(lock, [&] { return !resizing_; });
  ++open_txns_;
  ++t_open_txns;
}

void Env::end_txn() {
  std::lock_guard lock(txn_mutex_);
  --open_txns_;
  --t_open_txns;
  txn_done_.notify_all();
}

// mdb_env_set_mapsize under a transaction of another thread (the enricher reading while
// the writer grows the map) is undefined behaviour in LMDB: it holds new transactions
// back and waits for the open ones to end. `bytes` 0 adopts the size another process
// grew the map to. The caller holds no transaction itself.
void Env::resize(std::size_t bytes) {
  std::unique_lock lock(txn_mutex_);
  resizing_ = true;
  txn_done_.wait(lock, [&] { return open_txns_ == 0; });
  int rc = mdb_env_set_mapsize(env_, bytes);
  if (rc == MDB_SUCCESS) locate_map();
  resizing_ = false;
  txn_done_.notify_all();
  if (rc != MDB_SUCCESS) throw error(rc, "cannot grow store");
}

void Env::set_map_size(std::size_t bytes) {
  resize(bytes);
}

void Env::adopt_map_size() {
  resize(0);
}

void Env::sync() {
  if (int rc = mdb_env_sync(env_, 1); rc != MDB_SUCCESS) throw error(rc, "cannot sync store");
}

Txn::Txn(Env& env, bool write) : env_(env), write_(write) {
  env.begin_txn();
  int rc = mdb_txn_begin(env.get(), nullptr, write ? 0 : MDB_RDONLY, &txn_);
  if (rc == MDB_MAP_RESIZED) {
    // Another process grew the map: adopt its size and try again — unless this thread
    // holds a transaction already (a read inside a read), which adopting would pull the
    // pages from under; the caller's whole read is then to be tried again.
    env.end_txn();
    if (t_open_txns > 0) throw env.error(rc, "the store grew during this read; run it again");
    env.adopt_map_size();
    env.begin_txn();
    rc = mdb_txn_begin(env.get(), nullptr, write ? 0 : MDB_RDONLY, &txn_);
  }
  if (rc != MDB_SUCCESS) {
    txn_ = nullptr;
    env.end_txn();
    throw env.error(rc, "cannot begin store transaction");
  }
  try {
    span_ = env.committed();
  } catch (...) {
    abort();
    env.end_txn();
    throw;
  }
}

Txn::~Txn() {
  abort();
  env_.end_txn();
}

int Txn::run_guarded(const char* what, int (*call)(void*), void* context) const {
  // Only reads are guarded: a fault inside a write may follow heap damage LMDB did itself,
  // and leaves its write lock taken; such a process must end, as it did before.
  if (write_) return call(context);
  Guard guard;
  if (sigsetjmp(guard.jump, 0) != 0) {
    const std::string fault = guard.assertion[0]
                                  ? std::string("LMDB failed its check ") + guard.assertion
                                  : std::string(strsignal(guard.signal));
    throw env_.damage(std::string(what) + ": " + fault + " while reading its pages");
  }
  t_guard = &guard;
  int rc = call(context);
  t_guard = nullptr;
  return rc;
}

std::string_view Txn::checked(const MDB_val& v, const char* what) const {
  std::string_view bytes = to_sv(v);
  // Dirty pages of a write transaction live outside the map: only reads are checked.
  if (!write_ && !span_.contains(bytes))
    throw env_.damage(std::string(what) + ": a record points outside the file's pages");
  return bytes;
}

void Txn::release_pages() const {
  if (write_ || span_.begin == 0 || span_.end == UINTPTR_MAX) return;
  ::madvise(reinterpret_cast<void*>(span_.begin), span_.end - span_.begin, MADV_DONTNEED);
}

void Txn::commit() {
  MDB_txn* t = txn_;
  int rc = guarded("cannot commit to store", [&] { return mdb_txn_commit(t); });
  txn_ = nullptr;
  if (rc != MDB_SUCCESS) throw env_.error(rc, "cannot commit to store");
}

void Txn::abort() {
  if (txn_) mdb_txn_abort(txn_);
  txn_ = nullptr;
}

MDB_dbi Txn::open_db(const char* name, unsigned flags) {
  MDB_dbi dbi;
  int rc =
      guarded("cannot open store table", [&] { return mdb_dbi_open(txn_, name, flags, &dbi); });
  if (rc != MDB_SUCCESS) throw env_.error(rc, std::string("cannot open store table ") + name);
  return dbi;
}

std::optional<std::string_view> Txn::get(MDB_dbi dbi, std::string_view key) const {
  MDB_val k = to_val(key), v;
  int rc = guarded("cannot read store", [&] { return mdb_get(txn_, dbi, &k, &v); });
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != MDB_SUCCESS) throw env_.error(rc, "cannot read store");
  return checked(v, "cannot read store");
}

void Txn::put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = to_val(key), v = to_val(value);
  int rc = guarded("cannot write store", [&] { return mdb_put(txn_, dbi, &k, &v, flags); });
  if (rc != MDB_SUCCESS) throw env_.error(rc, "cannot write store");
}

bool Txn::del(MDB_dbi dbi, std::string_view key) {
  MDB_val k = to_val(key);
  int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != MDB_SUCCESS) throw env_.error(rc, "cannot delete from store");
  return true;
}

Cursor::Cursor(const Txn& txn, MDB_dbi dbi) : txn_(txn) {
  if (int rc = mdb_cursor_open(txn.get(), dbi, &cursor_); rc != MDB_SUCCESS)
    throw txn.env().error(rc, "cannot open store cursor");
}

Cursor::~Cursor() {
  if (cursor_) mdb_cursor_close(cursor_);
}

bool Cursor::move(MDB_cursor_op op) {
  MDB_val k = to_val(key_), v{};
  int rc = txn_.guarded("cannot read store", [&] { return mdb_cursor_get(cursor_, &k, &v, op); });
  if (rc == MDB_NOTFOUND) return false;
  if (rc != MDB_SUCCESS) throw txn_.env().error(rc, "cannot read store");
  key_ = txn_.checked(k, "cannot read store");
  value_ = txn_.checked(v, "cannot read store");
  return true;
}

bool Cursor::seek(std::string_view key) {
  key_ = key;
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
