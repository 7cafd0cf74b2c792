#include "store/migration.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <ctime>
#include <string>

#include "store/backup.hpp"

namespace plextap::store {

std::span<const Migration> migrations() {
  return {};
}

std::optional<std::uint32_t> schema_version(Env& env) {
  Txn txn(env, false);
  MDB_dbi meta;
  int rc = txn.guarded("cannot open store table",
                       [&] { return mdb_dbi_open(txn.get(), "meta", 0, &meta); });
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != MDB_SUCCESS) throw env.error(rc, "cannot open store table meta");
  auto version = txn.get(meta, "schema_version");
  if (!version) return std::nullopt;
  const bool digits = !version->empty() && version->size() <= 9 &&
                      version->find_first_not_of("0123456789") == std::string_view::npos;
  if (!digits) throw env.damage("its schema version is not a number");
  return static_cast<std::uint32_t>(std::stoul(std::string(*version)));
}

std::filesystem::path migrate(Env& env, const std::filesystem::path& dir, std::uint32_t current,
                              std::span<const Migration> steps) {
  const auto old = schema_version(env);
  if (!old || *old >= current) return {};
  std::filesystem::path store_dir = dir.lexically_normal();
  if (store_dir.filename().empty()) store_dir = store_dir.parent_path();
  std::string name = store_dir.filename().string();
  name.append(".bak-v").append(std::to_string(*old));
  // An earlier copy of the same version is kept: it may be the only one left of it.
  if (std::filesystem::exists(store_dir.parent_path() / name))
    name.append("-").append(std::to_string(std::time(nullptr)));
  const std::filesystem::path copy = store_dir.parent_path() / name;
  std::filesystem::create_directories(copy);
  ::chmod(copy.c_str(), 0700);
  backup_to_file(env, copy / "data.mdb");
  spdlog::info("store: schema version {} is older than {}: copied it to {} before migrating", *old,
               current, copy.string());

  Txn txn(env, true);
  for (const auto& step : steps) {
    if (step.from < *old || step.from >= current) continue;
    spdlog::info("store: migrating from version {}: {}", step.from, step.what);
    step.run(txn);
  }
  MDB_dbi meta = txn.open_db("meta");
  txn.put(meta, "schema_version", std::to_string(current));
  txn.put(meta, "migrated_from", std::to_string(*old));
  txn.commit();
  spdlog::info("store: now at schema version {}", current);
  return copy;
}

}  // namespace plextap::store
