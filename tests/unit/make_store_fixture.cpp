// Writes the fixture store of this schema version through the real writer:
//   make_store_fixture tests/fixtures/store-v<N>
// (the directory then holds data.mdb; lock.mdb, dropped and its companions are not kept).
#include <cstdio>
#include <filesystem>

#include "store/store.hpp"
#include "store/writer.hpp"
#include "tests/unit/store_fixture.hpp"

namespace {

class Ready final : public plextap::store::Pending {
 public:
  explicit Ready(plextap::store::Record r) : r_(std::move(r)) {}
  bool build(plextap::store::Record& out) override {
    out = std::move(r_);
    return true;
  }

 private:
  plextap::store::Record r_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_store_fixture DIR\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  if (std::filesystem::exists(dir / "data.mdb")) {
    std::fprintf(stderr, "%s already holds a store\n", dir.c_str());
    return 1;
  }
  {
    plextap::store::Store store(dir, false, std::size_t{1} << 20);
    plextap::store::Writer writer(store, {});
    for (auto& r : plextap::test_support::fixture_records())
      writer.submit(std::make_unique<Ready>(std::move(r)));
    writer.flush();
    writer.stop(std::chrono::steady_clock::time_point::max());
    std::printf("%llu records written, schema version %u\n",
                static_cast<unsigned long long>(writer.counters().written.load()),
                plextap::store::kSchemaVersion);
  }
  // Only the data file is the fixture; the store recreates the rest.
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().filename() != "data.mdb") std::filesystem::remove(entry.path());
  return 0;
}
