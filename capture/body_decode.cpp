// gzip/deflate decoding with zlib, bounded output.
#include "capture/body_decode.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <vector>

namespace plextap::capture {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_gzip_magic(std::string_view s) {
  return s.size() >= 2 && static_cast<unsigned char>(s[0]) == 0x1f &&
         static_cast<unsigned char>(s[1]) == 0x8b;
}

// RFC 1950 header: CM = 8 (deflate), window <= 32K, header checksum divisible by 31.
bool is_zlib_header(std::string_view s) {
  if (s.size() < 2) return false;
  auto cmf = static_cast<unsigned char>(s[0]);
  auto flg = static_cast<unsigned char>(s[1]);
  return (cmf & 0x0F) == 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 == 0;
}

class Inflater {
 public:
  explicit Inflater(int window_bits) : ok_(inflateInit2(&zs_, window_bits) == Z_OK) {}
  ~Inflater() {
    if (ok_) inflateEnd(&zs_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  bool ok() const { return ok_; }
  z_stream& z() { return zs_; }

 private:
  z_stream zs_{};
  bool ok_;
};

// One decoding stage. `gzip` allows further gzip members after the first.
Decoded inflate_all(std::string_view in, int window_bits, bool gzip, std::size_t max_out) {
  Decoded d;
  Inflater inflater(window_bits);
  if (!inflater.ok()) {
    d.error = "zlib: cannot initialise";
    return d;
  }
  z_stream& zs = inflater.z();
  std::size_t consumed = 0;  // bytes of `in` given to zlib so far
  auto feed = [&] {
    if (zs.avail_in == 0 && consumed < in.size()) {
      auto n = std::min<std::size_t>(in.size() - consumed, UINT_MAX);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + consumed));
      zs.avail_in = static_cast<uInt>(n);
      consumed += n;
    }
  };
  auto remaining = [&] { return in.size() - consumed + zs.avail_in; };

  constexpr std::size_t kChunk = 64 * 1024;
  for (;;) {
    feed();
    if (d.body.size() >= max_out) {
      // Full: probe one byte to tell "exactly max_out" from "more to come".
      unsigned char probe;
      zs.next_out = &probe;
      zs.avail_out = 1;
      int ret = inflate(&zs, Z_NO_FLUSH);
      bool ended = ret == Z_STREAM_END && zs.avail_out == 1 &&
                   !(gzip && is_gzip_magic(in.substr(in.size() - remaining())));
      d.truncated = !ended;
      d.ok = true;
      return d;
    }
    std::size_t old = d.body.size();
    std::size_t room = std::min(kChunk, max_out - old);
    // Grown by doubling as resize would, but never past max_out: the cap bounds what is
    // allocated, not only what is kept.
    if (d.body.capacity() < old + room)
      d.body.reserve(std::min(max_out, std::max(old + room, 2 * d.body.capacity())));
    d.body.resize(old + room);
    zs.next_out = reinterpret_cast<Bytef*>(d.body.data() + old);
    zs.avail_out = static_cast<uInt>(room);
    int ret = inflate(&zs, Z_NO_FLUSH);
    d.body.resize(old + room - zs.avail_out);
    if (ret == Z_STREAM_END) {
      auto rest = in.substr(in.size() - remaining());
      if (gzip && is_gzip_magic(rest)) {
        inflateReset(&zs);
        continue;
      }
      // Trailing bytes after the stream (padding some servers add) are ignored.
      d.ok = true;
      return d;
    }
    if (ret == Z_OK) continue;
    if (ret == Z_BUF_ERROR) {
      // There was output space, so zlib is starved of input: the stream was cut short.
      d.error = "compressed body ends before the end of its stream";
      return d;
    }
    d.error = std::string("corrupt compressed body: ") + (zs.msg ? zs.msg : "zlib error");
    return d;
  }
}

Decoded decode_one(std::string_view coding, std::string_view body, std::size_t max_out) {
  if (coding == "gzip" || coding == "x-gzip")
    return inflate_all(body, 16 + MAX_WBITS, true, max_out);
  if (coding == "deflate")
    return inflate_all(body, is_zlib_header(body) ? MAX_WBITS : -MAX_WBITS, false, max_out);
  Decoded d;
  d.unsupported = true;
  d.error = "unsupported content-encoding: " + std::string(coding);
  return d;
}

}  // namespace

Decoded decode_body(std::string_view content_encoding, std::string_view body, std::size_t max_out) {
  // Codings are listed in the order they were applied: undo them from the last.
  std::vector<std::string> codings;
  for (std::string_view rest = content_encoding; !rest.empty();) {
    auto comma = rest.find(',');
    auto coding = lower(trim(rest.substr(0, comma)));
    if (!coding.empty() && coding != "identity") codings.push_back(std::move(coding));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
  }

  Decoded d;
  d.ok = true;
  if (body.empty()) return d;
  if (codings.empty()) {
    d.body.assign(body.substr(0, max_out));
    d.truncated = body.size() > max_out;
    return d;
  }
  bool truncated = false;
  std::string_view input = body;
  for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
    Decoded next = decode_one(*it, input, max_out);
    d = std::move(next);
    // A capped intermediate stage hands the next one a cut stream; report the cap either way.
    truncated = truncated || d.truncated;
    if (!d.ok) break;
    input = d.body;
  }
  d.truncated = truncated;
  return d;
}

}  // namespace plextap::capture
