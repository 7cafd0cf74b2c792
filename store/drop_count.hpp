// The count of events dropped over a store's life: the file `dropped` beside the LMDB
// environment, decimal text padded to a fixed 21 bytes.
//
// It must be recordable exactly when the store itself cannot be written, and the usual
// reason for that is a full disk, so once the store is open nothing here needs new space:
// a new count is written over a spare file made at open (`dropped.next`, the same size),
// synced, and swapped with `dropped` in one rename (RENAME_EXCHANGE), which leaves the old
// count in the spare for next time. Whatever fails, `dropped` holds the old count or the
// new one, never a torn or empty one. Counts are added under a lock on the directory, so
// two writers of one store (serve and enrich) add up instead of overwriting each other.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace plextap::store {

class DropCount {
 public:
  explicit DropCount(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Makes the two files when missing (a writer's open, while there is space for them).
  // Best effort: add() works without them, only then it needs space.
  void prepare() const;
  // The count; 0 when there is no file. Throws store::Error when the file is there but
  // cannot be read as a count: a guess would lose the count.
  std::uint64_t read() const;
  // Adds `n` to the count. False, with the reason in `error`, when it cannot be saved now:
  // then nothing changed and the caller tries again later.
  bool add(std::uint64_t n, std::string* error = nullptr) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace plextap::store
