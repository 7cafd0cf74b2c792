#include "capture/token_fingerprint.hpp"

#include <fcntl.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <stdexcept>

namespace plextap::capture {

TokenFingerprinter TokenFingerprinter::from_data_dir(const std::filesystem::path& data_dir) {
  auto path = data_dir / "secret";
  if (!std::filesystem::exists(path)) {
    std::filesystem::create_directories(data_dir);
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("cannot create a secret");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
      bool ok = ::write(fd, bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes);
      ::close(fd);
      if (!ok) throw std::runtime_error("cannot write " + path.string());
    }
    // fd < 0 with EEXIST: another process created it first; read theirs.
  }
  std::ifstream in(path, std::ios::binary);
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (secret.size() < 16)
    throw std::runtime_error("installation secret " + path.string() + " is damaged");
  return TokenFingerprinter(std::move(secret));
}

std::string TokenFingerprinter::fingerprint(std::string_view token) const {
  unsigned char mac[32];
  unsigned int len = sizeof mac;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (std::size_t i = 0; i < 8; ++i) {
    out[2 * i] = kHex[mac[i] >> 4];
    out[2 * i + 1] = kHex[mac[i] & 0xf];
  }
  return out;
}

}  // namespace plextap::capture
