// Small helpers shared by the stand-in upstream, the clients and the tests: the
// deterministic byte pattern large downloads carry, and bounded polling.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

namespace plextap::itest {

// Byte i of every /bytes body. Period 251 (a prime), so a piece dropped, repeated or
// shifted by anything but a multiple of 251 bytes shows up at once.
inline char pattern_byte(std::uint64_t i) {
  return static_cast<char>((i * 31) % 251);
}

// The pattern from offset 0, long enough that any offset's next 64 KiB is a substring.
class PatternTable {
 public:
  static constexpr std::size_t kPeriod = 251;
  static constexpr std::size_t kSpan = 64 * 1024;

  static const PatternTable& get() {
    static const PatternTable table;
    return table;
  }
  // Up to kSpan bytes of the pattern starting at absolute offset `offset`.
  std::string_view at(std::uint64_t offset, std::size_t length) const {
    if (length > kSpan) length = kSpan;
    return std::string_view(bytes_).substr(offset % kPeriod, length);
  }

 private:
  PatternTable() {
    bytes_.resize(kSpan + kPeriod);
    for (std::size_t i = 0; i < bytes_.size(); ++i) bytes_[i] = pattern_byte(i);
  }
  std::string bytes_;
};

// Checks a body that arrives piece by piece against the pattern, cheaply (memcmp).
class PatternChecker {
 public:
  explicit PatternChecker(std::uint64_t start = 0) : offset_(start) {}

  void feed(std::string_view piece) {
    const auto& table = PatternTable::get();
    while (!piece.empty()) {
      auto expected = table.at(offset_, piece.size());
      if (ok_ && std::memcmp(piece.data(), expected.data(), expected.size()) != 0) {
        ok_ = false;
        for (std::size_t i = 0; i < expected.size(); ++i)
          if (piece[i] != expected[i]) {
            first_bad_ = offset_ + i;
            break;
          }
      }
      offset_ += expected.size();
      piece.remove_prefix(expected.size());
    }
  }
  bool ok() const { return ok_; }
  std::uint64_t offset() const { return offset_; }  // start + bytes fed
  std::uint64_t first_bad() const { return first_bad_; }

 private:
  std::uint64_t offset_;
  bool ok_ = true;
  std::uint64_t first_bad_ = 0;
};

// Whether peak RSS means anything in this build: AddressSanitizer's shadow memory and
// quarantine make it meaningless, so memory bounds are checked in the release build.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRssBoundsHold = false;
#else
inline constexpr bool kRssBoundsHold = true;
#endif

inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// How many times `needle` stands in `haystack`, not overlapping.
inline std::size_t count(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

// The port number written right after `prefix` in `text` ("listening on http://…:"); 0 if
// it is not there.
inline std::uint16_t port_after(std::string_view text, std::string_view prefix) {
  auto at = text.find(prefix);
  if (at == std::string_view::npos) return 0;
  unsigned port = 0;
  for (auto i = at + prefix.size(); i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i)
    port = port * 10 + static_cast<unsigned>(text[i] - '0');
  return port > 0 && port < 65536 ? static_cast<std::uint16_t>(port) : 0;
}

// Polls `done` every `step` until it holds or `limit` passes; returns its last value.
template <class Pred>
bool wait_until(Pred done, std::chrono::milliseconds limit,
                std::chrono::milliseconds step = std::chrono::milliseconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

inline long long ms_between(std::chrono::steady_clock::time_point a,
                            std::chrono::steady_clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

}  // namespace plextap::itest
