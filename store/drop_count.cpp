#include "store/drop_count.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>

#include "store/lmdb.hpp"

namespace plextap::store {
namespace {

constexpr const char* kFile = "dropped";
constexpr const char* kSpare = "dropped.next";
constexpr std::size_t kFileSize = 21;  // 20 digits (the largest u64) and a newline

std::string format_count(std::uint64_t n) {
  char text[kFileSize + 1];
  std::snprintf(text, sizeof text, "%-20llu\n", static_cast<unsigned long long>(n));
  return std::string(text, kFileSize);
}

// A descriptor closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  // Closes now; false when close reports an error (a write that did not make it).
  bool close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Writes all of `text` at offset 0 of `fd` and syncs it.
bool write_synced(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return ::fdatasync(fd) == 0;
}

// Writes `text` as the file `name` in `dir` anew: a temporary file, synced, renamed.
bool replace_file(int dir, const char* name, const std::string& text) {
  const std::string tmp = std::string(name) + ".tmp";
  Fd fd(::openat(dir, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.ok()) return false;
  const bool ok =
      write_synced(fd.get(), text) && fd.close() && ::renameat(dir, tmp.c_str(), dir, name) == 0;
  if (!ok) ::unlinkat(dir, tmp.c_str(), 0);
  return ok;
}

}  // namespace

void DropCount::prepare() const {
  Fd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.ok() || ::flock(dir.get(), LOCK_EX) != 0) return;
  ::unlinkat(dir.get(), "dropped.tmp", 0);  // left by versions that wrote it directly
  struct stat st {};
  if (::fstatat(dir.get(), kFile, &st, 0) != 0 && errno == ENOENT)
    replace_file(dir.get(), kFile, format_count(0));
  if (::fstatat(dir.get(), kSpare, &st, 0) != 0 || st.st_size != kFileSize)
    replace_file(dir.get(), kSpare, format_count(0));
}

std::uint64_t DropCount::read() const {
  const auto path = dir_ / kFile;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) {
    if (errno == ENOENT) return 0;
    throw Error(errno_text("cannot read the drop count " + path.string()), errno);
  }
  char text[64];
  ssize_t n;
  do n = ::read(fd.get(), text, sizeof text);
  while (n < 0 && errno == EINTR);
  if (n < 0) throw Error(errno_text("cannot read the drop count " + path.string()), errno);
  // Digits, then only blanks: anything else is not a count this code wrote.
  const std::string_view got(text, static_cast<std::size_t>(n));
  const std::size_t digits_end = std::min(got.find_first_not_of("0123456789"), got.size());
  std::uint64_t count = 0;
  const auto [end, ec] = std::from_chars(got.data(), got.data() + digits_end, count);
  if (digits_end == 0 || ec != std::errc() || end != got.data() + digits_end ||
      got.find_first_not_of(" \n", digits_end) != std::string_view::npos ||
      got.size() == sizeof text)
    throw Error("the drop count " + path.string() + " is not a count", MDB_INVALID);
  return count;
}

bool DropCount::add(std::uint64_t n, std::string* error) const {
  auto fail = [&](const std::string& why) {
    if (error) *error = why;
    return false;
  };
  Fd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.ok()) return fail(errno_text("cannot open " + dir_.string()));
  if (::flock(dir.get(), LOCK_EX) != 0) return fail(errno_text("cannot lock " + dir_.string()));
  std::uint64_t current;
  try {
    current = read();
  } catch (const Error& e) {
    return fail(e.what());
  }
  const std::uint64_t total =
      current > std::numeric_limits<std::uint64_t>::max() - n ? current : current + n;
  const std::string text = format_count(total);

  // The spare is overwritten in place: its blocks exist, a full disk does not matter.
  Fd spare(::openat(dir.get(), kSpare, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  if (!spare.ok()) return fail(errno_text("cannot write " + (dir_ / kSpare).string()));
  if (!write_synced(spare.get(), text) || ::ftruncate(spare.get(), kFileSize) != 0 ||
      !spare.close())
    return fail(errno_text("cannot write " + (dir_ / kSpare).string()));

  if (::renameat2(dir.get(), kSpare, dir.get(), kFile, RENAME_EXCHANGE) != 0) {
    // No count yet, or a file system that cannot swap: a plain rename, after which the
    // next add makes a new spare (and needs space for it).
    if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)
      return fail(errno_text("cannot rename " + (dir_ / kSpare).string()));
    if (::renameat(dir.get(), kSpare, dir.get(), kFile) != 0)
      return fail(errno_text("cannot rename " + (dir_ / kSpare).string()));
  }
  // The rename has happened; a failed directory sync only makes it less durable, and
  // adding again would count twice.
  ::fsync(dir.get());
  return true;
}

}  // namespace plextap::store
