// libFuzzer target over HAR import: arbitrary bytes as a HAR file. A file is either read
// whole or refused with one SourceError; beyond "no crash, no sanitizer report" it checks
// that what is accepted is usable: a method, a target starting with '/', a real status.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "replay/source.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    for (const auto& r : plextap::replay::parse_har(text, "fuzz.har")) {
      const auto& ex = r.exchange;
      if (ex.method.empty() || ex.target.empty() || ex.target.front() != '/' || ex.status < 100 ||
          ex.status > 999)
        std::abort();
    }
  } catch (const plextap::replay::SourceError&) {
  }
  return 0;
}
