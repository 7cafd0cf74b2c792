// Schema versions and the steps between them: a store written by an earlier plextap
// always opens in a later one. Opened for writing, a store of an older version is first
// copied whole (compacted) into `<store>.bak-v<old>/data.mdb` beside it, then migrated in
// place, each step and the new version in one transaction: a failure leaves the store as
// it was and the copy beside it. Without a step between two versions the encoding did not
// change, and only the version is written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>

#include "store/lmdb.hpp"

namespace plextap::store {

struct Migration {
  std::uint32_t from;  // runs on a store of this version, leaves it at from + 1
  const char* what;    // for the log
  void (*run)(Txn& txn);
};

// The steps of this build, in order of `from` (none yet: the encoding of version 1 is
// still current).
std::span<const Migration> migrations();

// The version a store says it has: null for a store without one (new), a damage Error
// when it is not a number.
std::optional<std::uint32_t> schema_version(Env& env);

// Brings a writable store of an older version up to `current` (above). Returns the
// directory of the copy made first, or an empty path when nothing was to be done.
std::filesystem::path migrate(Env& env, const std::filesystem::path& dir, std::uint32_t current,
                              std::span<const Migration> steps = migrations());

}  // namespace plextap::store
