// A consistent, compacted copy of the store while it is being written (`plextap backup`,
// and the copy made before a migration): LMDB copies one read transaction's snapshot, so
// the writer is never held up, and the copy holds no free pages.
#pragma once

#include <filesystem>

#include "store/lmdb.hpp"

namespace plextap::store {

// Writes the copy to `file` atomically: into a temporary file beside it, synced, then
// renamed over it; `file` is either the whole copy or untouched. Throws Error.
void backup_to_file(Env& env, const std::filesystem::path& file);

}  // namespace plextap::store
