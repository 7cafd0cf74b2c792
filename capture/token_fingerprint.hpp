// Plex tokens never reach the store: they are replaced by a fingerprint, the first 16
// hex characters of HMAC-SHA256(installation secret, token). The same token always gives
// the same fingerprint on one installation, so sessions can be told apart, yet the
// token cannot be recovered from the store.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace plextap::capture {

class TokenFingerprinter {
 public:
  explicit TokenFingerprinter(std::string secret) : secret_(std::move(secret)) {}
  // Reads DATA/secret, creating it (32 random bytes, mode 0600) when missing.
  static TokenFingerprinter from_data_dir(const std::filesystem::path& data_dir);

  std::string fingerprint(std::string_view token) const;

 private:
  std::string secret_;
};

}  // namespace plextap::capture
