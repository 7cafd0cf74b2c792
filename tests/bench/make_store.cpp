// Fills a store with N synthetic timeline events through the real writer, for the export
// benchmark: `make_store N DIR` (DIR/store is created).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "store/store.hpp"
#include "store/writer.hpp"
#include "synthetic_events.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_store N DIR\n");
    return 2;
  }
  const long n = std::strtol(argv[1], nullptr, 10);
  std::filesystem::path dir = std::filesystem::path(argv[2]) / "store";
  plextap::store::Store store(dir, false);
  plextap::store::Writer::Options options;
  options.queue_capacity = 1 << 20;
  plextap::store::Writer writer(store, options);
  for (long i = 0; i < n; ++i) {
    while (!writer.submit(std::make_unique<plextap::bench::Ready>(
        plextap::bench::timeline_record(1'700'000'000'000 + i * 10, static_cast<int>(i)))))
      writer.flush();  // queue full: let it drain (the bench wants every event)
  }
  writer.flush();
  std::printf("%llu events written\n",
              static_cast<unsigned long long>(writer.counters().written.load()));
  return 0;
}
