// Master keys: 256 secret bits, stored in a small text file (docs/SPEC.md §1).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "tracemark/export.h"

namespace tracemark {

// Thread safety: immutable after construction; const members may be called from any
// number of threads. Each copy holds the secret, which its destructor zeroes.
class TRACEMARK_EXPORT key {
 public:
  static constexpr size_t n_secret_bytes = 32;
  using secret_bytes = std::array<uint8_t, n_secret_bytes>;

  // A fresh key from OpenSSL's private RNG (RAND_priv_bytes).
  static key generate();
  // Wraps known bytes; for tests and known-answer vectors only.
  static key from_secret(const secret_bytes& secret);
  // Reads a key file. Throws error{key_missing | key_permissions | key_corrupt}.
  static key load(const std::string& path);

  // Writes the key file with mode 0600; refuses to overwrite an existing file.
  void save(const std::string& path) const;

  // Public identifier, safe to print: "tmk1:" + 16 hex digits.
  const std::string& fingerprint() const noexcept { return fingerprint_; }
  // The secret itself. Never print or log it.
  const secret_bytes& secret() const noexcept { return secret_; }

  ~key();
  key(const key&) = default;
  key& operator=(const key&) = default;

 private:
  explicit key(const secret_bytes& secret);
  secret_bytes secret_{};
  std::string fingerprint_;
};

}  // namespace tracemark
