// The drop count stays exact: counts add up across writers, a file that is not a count
// is never overwritten with a guess, and once the store is open adding needs no new disk
// space, so a full disk cannot lose or reset it.
#include "store/drop_count.hpp"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "store/lmdb.hpp"
#include "tests/unit/temp_dir.hpp"

namespace plextap::store {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST(DropCount, AddsUpInFixedSizeFiles) {
  TempDir dir;
  DropCount count(dir.path());
  EXPECT_EQ(count.read(), 0u) << "no file is no drops";
  count.prepare();
  EXPECT_EQ(count.read(), 0u);
  ASSERT_TRUE(count.add(3));
  ASSERT_TRUE(count.add(40));
  EXPECT_EQ(count.read(), 43u);
  EXPECT_EQ(read_text(dir.path() / "dropped"), "43                  \n");
  // The spare keeps the count before: swapped in, not written anew.
  EXPECT_EQ(read_text(dir.path() / "dropped.next"), "3                   \n");
}

TEST(DropCount, ReadsTheFormatWrittenBefore) {
  TempDir dir;
  write_text(dir.path() / "dropped", "44\n");
  DropCount count(dir.path());
  EXPECT_EQ(count.read(), 44u);
  count.prepare();
  ASSERT_TRUE(count.add(1));
  EXPECT_EQ(count.read(), 45u);
}

TEST(DropCount, AFileThatIsNotACountIsNeverOverwritten) {
  TempDir dir;
  DropCount count(dir.path());
  for (const std::string bad : {"", "12x\n", "-5\n", "99999999999999999999999\n", "1 2\n"}) {
    write_text(dir.path() / "dropped", bad);
    EXPECT_THROW(count.read(), Error) << "'" << bad << "'";
    std::string error;
    EXPECT_FALSE(count.add(7, &error)) << "'" << bad << "'";
    EXPECT_NE(error.find("not a count"), std::string::npos) << error;
    EXPECT_EQ(read_text(dir.path() / "dropped"), bad);
  }
}

TEST(DropCount, TwoWritersAddUp) {
  TempDir dir;
  DropCount(dir.path()).prepare();
  constexpr int kEach = 40;  // each add syncs twice
  {
    std::vector<std::jthread> writers;
    for (int w = 0; w < 2; ++w)
      writers.emplace_back([&] {
        DropCount mine(dir.path());  // its own descriptors, as another process has
        for (int i = 0; i < kEach; ++i) ASSERT_TRUE(mine.add(1));
      });
  }
  EXPECT_EQ(DropCount(dir.path()).read(), 2u * kEach);
}

// A tmpfs of its own, filled to the last byte (root only).
class FullDisk {
 public:
  explicit FullDisk(const fs::path& at) : at_(at) {
    fs::create_directories(at_);
    if (::geteuid() != 0) {
      why_ = "needs root to mount a small tmpfs";
      return;
    }
    if (::mount("tmpfs", at_.c_str(), "tmpfs", 0, "size=256k") != 0) {
      why_ = std::string("cannot mount a tmpfs: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~FullDisk() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  const std::string& why_not() const { return why_; }
  // Writes a file until the file system says it is full.
  void fill() {
    std::FILE* f = std::fopen((at_ / "filler").c_str(), "w");
    ASSERT_TRUE(f);
    std::string block(4096, 'f');
    while (std::fwrite(block.data(), 1, block.size(), f) == block.size() && std::fflush(f) == 0) {
    }
    std::fclose(f);
    std::FILE* probe = std::fopen((at_ / "probe").c_str(), "w");
    ASSERT_TRUE(probe);
    EXPECT_TRUE(std::fputs("x", probe) < 0 || std::fflush(probe) != 0) << "not full";
    std::fclose(probe);
  }

 private:
  fs::path at_;
  bool mounted_ = false;
  std::string why_;
};

TEST(DropCount, AddsWithTheDiskFull) {
  TempDir tmp;
  FullDisk disk(tmp.path() / "disk");
  if (!disk.why_not().empty()) GTEST_SKIP() << disk.why_not();
  const fs::path dir = tmp.path() / "disk" / "store";
  fs::create_directories(dir);
  DropCount count(dir);
  count.prepare();
  ASSERT_TRUE(count.add(5));
  disk.fill();
  // What the spare's blocks hold is rewritten in place: no new space needed.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(count.add(10));
  EXPECT_EQ(count.read(), 105u);
  // Without a spare the new file needs space: the add fails and changes nothing.
  fs::remove(dir / "dropped.next");
  disk.fill();  // the spare's page is free again
  std::string error;
  EXPECT_FALSE(count.add(1, &error));
  EXPECT_NE(error.find("No space"), std::string::npos) << error;
  EXPECT_EQ(count.read(), 105u);
  EXPECT_EQ(read_text(dir / "dropped"), "105                 \n");
}

}  // namespace
}  // namespace plextap::store
