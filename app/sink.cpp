// `plextap sink URL`: keeps a PostgreSQL database in step with the store (sink/sink.hpp);
// `--init` creates the schema and prints it.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "sink/pg.hpp"
#include "sink/sink.hpp"
#include "store/store.hpp"

namespace plextap::app {
namespace {

struct SinkFlags {
  std::string url;
  std::string data = "./plextap-data";
  std::string since, server_id;
  bool init = false, once = false;
  std::size_t batch = 20'000;
};

// The Plex server the store records: --server-id, else what serve learnt from the server.
std::string server_id_of(const SinkFlags& f, store::Store& store) {
  if (!f.server_id.empty()) return f.server_id;
  if (auto id = store.meta_value("server_id"); id && !id->empty()) return *id;
  throw std::runtime_error(
      "the store does not know which Plex server it records (serve learns it from the "
      "server's /identity once it answers): give --server-id ID, the server's "
      "machineIdentifier");
}

int run_sink(const SinkFlags& f) {
  sink::shown_url(f.url);  // a URL libpq cannot read fails before anything else
  if (f.init) {
    std::fputs(sink::Sink::init(f.url).c_str(), stdout);
    return 0;
  }
  setup_logging(false);
  store::Store store(std::filesystem::path(f.data) / "store", true);
  sink::SinkOptions options;
  options.url = f.url;
  options.server_id = server_id_of(f, store);
  if (!f.since.empty()) options.since_ms = parse_time(f.since);
  options.once = f.once;
  options.fail_fast = true;
  options.batch_events = f.batch;
  sink::Sink sink(store, options);

  // SIGINT and SIGTERM end the sink from a thread of their own (stop() is no signal
  // handler's work); SIGUSR2 wakes that thread when the sink ends first.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGUSR2}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread stopper([&] {
    int received = 0;
    sigwait(&signals, &received);
    sink.request_stop();
  });
  struct Join {
    std::thread& t;
    ~Join() {
      pthread_kill(t.native_handle(), SIGUSR2);
      t.join();
    }
  } join{stopper};
  sink.run();
  return 0;
}

}  // namespace

Runner add_sink(CLI::App& app) {
  auto f = std::make_shared<SinkFlags>();
  auto* cmd = app.add_subcommand(
      "sink", "Replicate the store into PostgreSQL, exactly once, and keep it in step");
  cmd->add_option("url", f->url,
                  "PostgreSQL connection: a libpq conninfo string (host=… dbname=…) or a "
                  "postgres:// URI; the password may come from PGPASSWORD or ~/.pgpass")
      ->required();
  with_env(cmd->add_option("--data", f->data, "Data directory")->capture_default_str());
  with_env(cmd->add_option("--since", f->since,
                           "Leave out events before this time (RFC 3339, date, or age like 30d)"));
  with_env(cmd->add_option("--server-id", f->server_id,
                           "The Plex server's machineIdentifier, when the store does not know "
                           "it (rows carry it as server_id)"));
  with_env(cmd->add_flag("--init", f->init,
                         "Create (or complete) the database's tables, print their SQL and exit"));
  with_env(cmd->add_flag("--once", f->once,
                         "Replicate what the store holds, end open plays as an export does, and "
                         "exit"));
  with_env(cmd->add_option("--batch", f->batch,
                           "Events per transaction at most (larger: faster catch-up, longer "
                           "transactions)")
               ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
               ->capture_default_str());
  return [f] { return run_sink(*f); };
}

}  // namespace plextap::app
