// Store writer throughput: events per second through the real Writer (queue, group
// commit, LMDB) into a fresh store on disk. Target: 200,000 events/s sustained.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "store/store.hpp"
#include "store/writer.hpp"
#include "synthetic_events.hpp"

namespace {

using namespace plextap::store;
using plextap::bench::Ready;
using plextap::bench::timeline_record;

void BM_StoreWriter(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() / ("plextap-bench-" + std::to_string(rd()));
  std::uint64_t total = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(dir);
    std::vector<std::unique_ptr<Pending>> work;
    work.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      work.push_back(std::make_unique<Ready>(timeline_record(1'700'000'000'000 + i, i)));
    {
      Store store(dir, false);
      Writer::Options options;
      options.queue_capacity = static_cast<std::size_t>(n);
      Writer writer(store, options);
      state.ResumeTiming();
      for (auto& w : work) writer.submit(std::move(w));
      writer.flush();
      state.PauseTiming();
      if (writer.counters().written != static_cast<std::uint64_t>(n))
        state.SkipWithError("not every event was written");
    }
    total += static_cast<std::uint64_t>(n);
    state.ResumeTiming();
  }
  std::filesystem::remove_all(dir);
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
  state.counters["target_ratio"] =
      benchmark::Counter(static_cast<double>(total) / 200'000.0, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StoreWriter)
    ->Arg(200'000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
