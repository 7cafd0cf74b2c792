// Keeps a long read of the store from growing the process: reading a large store touches
// every page of LMDB's map, and file-backed pages count as the process's RSS until they
// are unmapped. Every so often the span of the map read so far is dropped from this
// process (MADV_DONTNEED): the pages stay in the page cache and the map is read-only here,
// so nothing is lost, and RSS stays flat whatever the size. (LMDB does not say where its
// map is, but every value it returns points into it.)
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string_view>

namespace plextap::store {

class MapTrimmer {
 public:
  // Call with each value read from the store.
  void tick(std::string_view value) {
    auto begin = reinterpret_cast<std::uintptr_t>(value.data());
    lo_ = std::min(lo_, begin);
    hi_ = std::max(hi_, begin + value.size());
    if (++count_ % 8192 != 0) return;
    static const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    std::uintptr_t start = lo_ & ~(page - 1);
    // The whole span read so far: it also covers the branch pages between the leaves.
    ::madvise(reinterpret_cast<void*>(start), hi_ - start, MADV_DONTNEED);
  }

 private:
  std::uintptr_t lo_ = UINTPTR_MAX, hi_ = 0;
  std::uint64_t count_ = 0;
};

}  // namespace plextap::store
