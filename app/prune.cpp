// `plextap prune`: deletes what was recorded before a time, by hand, in the same small
// transactions as serve's retention, so it may run while serve records (LMDB lets one
// process write at a time; each of its transactions holds serve's writer a few ms).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "base/time.hpp"
#include "store/pruner.hpp"
#include "store/store.hpp"

namespace plextap::app {
namespace {

struct PruneFlags {
  std::string data = "./plextap-data";
  std::string before;
  bool exchanges_only = false;
};

int run_prune(const PruneFlags& f) {
  const std::int64_t before = parse_time(f.before);
  const auto dir = std::filesystem::path(f.data) / "store";
  std::error_code ec;
  if (!std::filesystem::exists(dir / "data.mdb", ec))
    throw std::runtime_error("no store at " + dir.string());
  store::Store store(dir, false);
  std::optional<std::int64_t> events;
  if (!f.exchanges_only) events = before;
  const auto n = store::prune(store, events, before, store::PruneOptions{});
  std::printf("deleted %llu events and %llu exchanges recorded before %s\n",
              static_cast<unsigned long long>(n.events),
              static_cast<unsigned long long>(n.exchanges), base::rfc3339_ms(before).c_str());
  return 0;
}

}  // namespace

Runner add_prune(CLI::App& app) {
  auto f = std::make_shared<PruneFlags>();
  auto* cmd = app.add_subcommand(
      "prune", "Delete events and exchanges recorded before a time (also while serve runs)");
  with_env(cmd->add_option("--before", f->before,
                           "Delete what was recorded before this time (RFC 3339, date, or an "
                           "age like 90d)")
               ->required());
  with_env(cmd->add_flag("--exchanges-only", f->exchanges_only,
                         "Delete only the raw exchanges kept for replay; keep the events"));
  with_env(cmd->add_option("--data", f->data, "Data directory")->capture_default_str());
  return [f] { return run_prune(*f); };
}

}  // namespace plextap::app
