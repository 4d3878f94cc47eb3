// The configuration file of `tracemark serve` (docs/SERVER.md): the master key, the
// watermark scheme, and the API keys (each mapping to an account) and admin keys.
// Keys are kept only as SHA-256 digests and looked up in constant time.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/cli.h"
#include "tracemark/scheme.h"

namespace tracemark::cli {

// The configuration is wrong: a cli_error whose exit code is 2 (content), 3 (permissions)
// or 4 (I/O).
using config_error = cli_error;

using sha256_digest = std::array<uint8_t, 32>;

sha256_digest sha256(std::string_view data);
std::string to_hex(const sha256_digest& d);

// Who a bearer key belongs to.
struct principal {
  std::optional<std::string> account;  // set: may request completions, marked with this account's sub-key
  bool admin = false;                  // may call /v1/detect
  std::string label;                   // for the log: the account, or the admin key's name
};

struct server_config {
  std::filesystem::path path;                 // the config file itself
  std::optional<std::filesystem::path> key_file;  // absolute, or relative to the config file's directory
  bool watermark = true;
  std::string scheme = "kgw-lefthash";
  int32_t context_width = 1;
  double gamma = 0.25;
  float delta = 2.0f;
  std::string model_name;                     // empty: the model file's stem

  struct key_entry {
    sha256_digest digest{};
    principal who;
  };
  std::vector<key_entry> keys;                // one per distinct key (api and admin merged)
  std::vector<std::string> accounts;          // distinct account ids, in order of first appearance

  // Reads and checks `path`: refused when group/others have any access (like key files).
  static server_config load(const std::filesystem::path& path);

  // The principal of a presented bearer key, or nullopt. Compares the key's digest with
  // every configured digest (CRYPTO_memcmp, no early exit).
  std::optional<principal> authenticate(std::string_view bearer) const;

  // The scheme configuration for an account (vocab filled in by the caller).
  scheme_config scheme_for(const std::string& account, int32_t vocab_size) const;
};

}  // namespace tracemark::cli
