// `plextap backup FILE`: a consistent, compacted copy of the store, also while serve
// records (a read transaction's snapshot; the writer goes on). Restore: stop serve, put
// the copy in place as DATA/store/data.mdb, start serve.
#include "store/backup.hpp"

#include <cstdio>
#include <filesystem>
#include <memory>

#include "app/commands.hpp"
#include "store/store.hpp"

namespace plextap::app {
namespace {

struct BackupFlags {
  std::string data = "./plextap-data";
  std::string file;
};

int run_backup(const BackupFlags& f) {
  store::Store store(std::filesystem::path(f.data) / "store", true);
  store::backup_to_file(store.env(), f.file);
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(f.file, ec);
  std::printf("backed up the store to %s (%llu bytes)\n", f.file.c_str(),
              static_cast<unsigned long long>(ec ? 0 : bytes));
  return 0;
}

}  // namespace

Runner add_backup(CLI::App& app) {
  auto f = std::make_shared<BackupFlags>();
  auto* cmd = app.add_subcommand(
      "backup", "Write a consistent, compacted copy of the store to FILE (also while serve runs)");
  cmd->add_option("file", f->file, "The copy to write (replaced atomically)")->required();
  with_env(cmd->add_option("--data", f->data, "Data directory")->capture_default_str());
  return [f] { return run_backup(*f); };
}

}  // namespace plextap::app
