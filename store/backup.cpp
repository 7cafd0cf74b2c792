#include "store/backup.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace plextap::store {
namespace {

void sync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void backup_to_file(Env& env, const std::filesystem::path& file) {
  const std::filesystem::path temp =
      file.string() + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Error("cannot write " + temp.string() + ": " + std::strerror(errno), errno);
  auto fail = [&](const std::string& what, int code) {
    ::close(fd);
    ::unlink(temp.c_str());
    return Error("cannot back up the store to " + file.string() + ": " + what, code);
  };
  // MDB_CP_COMPACT copies in a read transaction of its own: the writer goes on meanwhile.
  int rc = mdb_env_copyfd2(env.get(), fd, MDB_CP_COMPACT);
  if (rc == MDB_MAP_RESIZED) {  // the writing process grew the map since this one opened it
    env.adopt_map_size();
    if (::ftruncate(fd, 0) == 0 && ::lseek(fd, 0, SEEK_SET) == 0)
      rc = mdb_env_copyfd2(env.get(), fd, MDB_CP_COMPACT);
  }
  if (rc != MDB_SUCCESS) throw fail(mdb_strerror(rc), rc);
  if (::fsync(fd) != 0) throw fail(std::strerror(errno), errno);
  if (::close(fd) != 0) {
    ::unlink(temp.c_str());
    throw Error("cannot back up the store to " + file.string() + ": " + std::strerror(errno),
                errno);
  }
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    const int code = errno;
    ::unlink(temp.c_str());
    throw Error("cannot back up the store to " + file.string() + ": " + std::strerror(code), code);
  }
  sync_dir(file.parent_path());
}

}  // namespace plextap::store
