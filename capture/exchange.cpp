#include "capture/exchange.hpp"

#include "capture/text.hpp"
#include "store/checksum.hpp"

namespace plextap::capture {
namespace {

constexpr char kFormatUnchecked = 1;
constexpr char kFormat = 2;
constexpr std::size_t kChecksumEnd = 5;  // the format byte and the CRC-32C

std::uint32_t read_le32(std::string_view bytes) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  return v;
}

// The fields after the format byte (and checksum), or null when the bytes are neither
// format: the part both formats share.
std::optional<std::string_view> fields_of(std::string_view bytes) {
  if (bytes.empty()) return std::nullopt;
  if (bytes.front() == kFormatUnchecked) return bytes.substr(1);
  if (bytes.front() != kFormat || bytes.size() < kChecksumEnd) return std::nullopt;
  auto fields = bytes.substr(kChecksumEnd);
  if (read_le32(bytes.substr(1)) != store::crc32c(fields)) return std::nullopt;
  return fields;
}

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void put_string(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

std::string join_headers(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out;
  for (const auto& [name, value] : headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  return out;
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}
  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (rest_.empty()) return false;
      auto b = static_cast<unsigned char>(rest_.front());
      rest_.remove_prefix(1);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool string(std::string& s) {
    std::uint64_t n;
    if (!varint(n) || n > rest_.size()) return false;
    s.assign(rest_.substr(0, n));
    rest_.remove_prefix(n);
    return true;
  }
  bool headers(std::vector<std::pair<std::string, std::string>>& out) {
    std::string block;
    if (!string(block)) return false;
    std::string_view rest = block;
    while (!rest.empty()) {
      auto end = rest.find("\r\n");
      auto line = rest.substr(0, end);
      auto colon = line.find(": ");
      if (colon == std::string_view::npos) return false;
      out.emplace_back(line.substr(0, colon), line.substr(colon + 2));
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 2);
    }
    return true;
  }

 private:
  std::string_view rest_;
};

}  // namespace

std::string_view header_value(const HeaderFields& fields, std::string_view name) {
  for (const auto& [n, v] : fields)
    if (iequals(n, name)) return v;
  return {};
}

std::string encode_exchange(const Exchange& e) {
  std::string out;
  out.reserve(64 + e.target.size() + e.request_body.size() + e.response_body.size());
  out += kFormat;
  out.append(4, '\0');  // the checksum, once the rest is there
  put_varint(out, static_cast<std::uint64_t>(e.ts_ms));
  put_varint(out, e.latency_us);
  put_varint(out, e.status);
  put_varint(
      out, (e.request_truncated ? 1u : 0u) | (e.response_truncated ? 2u : 0u) | (e.tls ? 4u : 0u));
  put_string(out, e.remote_addr);
  put_string(out, e.method);
  put_string(out, e.target);
  put_string(out, join_headers(e.request_headers));
  put_string(out, e.request_body);
  put_string(out, join_headers(e.response_headers));
  put_string(out, e.response_body);
  const std::uint32_t crc = store::crc32c(std::string_view(out).substr(kChecksumEnd));
  for (std::size_t i = 0; i < 4; ++i) out[1 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  return out;
}

std::optional<Exchange> decode_exchange(std::string_view bytes) {
  auto fields = fields_of(bytes);
  if (!fields) return std::nullopt;
  Reader r(*fields);
  Exchange e;
  std::uint64_t ts, latency, status, flags;
  if (!r.varint(ts) || !r.varint(latency) || !r.varint(status) || !r.varint(flags))
    return std::nullopt;
  e.ts_ms = static_cast<std::int64_t>(ts);
  e.latency_us = latency;
  e.status = static_cast<unsigned>(status);
  e.request_truncated = flags & 1;
  e.response_truncated = flags & 2;
  e.tls = flags & 4;
  if (!r.string(e.remote_addr) || !r.string(e.method) || !r.string(e.target) ||
      !r.headers(e.request_headers) || !r.string(e.request_body) ||
      !r.headers(e.response_headers) || !r.string(e.response_body))
    return std::nullopt;
  return e;
}

bool exchange_predates_redaction(std::string_view bytes) {
  return !bytes.empty() && bytes.front() == kFormatUnchecked;
}

bool exchange_intact(std::string_view bytes) {
  if (!bytes.empty() && bytes.front() == kFormat) return fields_of(bytes).has_value();
  return decode_exchange(bytes).has_value();
}

}  // namespace plextap::capture
