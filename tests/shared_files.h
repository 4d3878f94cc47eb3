// Files from ../shared (models, corpora), verified against the SHA256SUMS next to them.
// A missing or altered file fails the test: CI must never silently skip.
#pragma once
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace testing_util {

inline std::string to_hex(const unsigned char* bytes, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (size_t i = 0; i < n; ++i) {
    hex += digits[bytes[i] >> 4];
    hex += digits[bytes[i] & 15];
  }
  return hex;
}

inline std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) == 1);
  return to_hex(md, len);
}

inline std::string sha256_hex_of_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  REQUIRE(EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1);
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    if (in.gcount() > 0) EVP_DigestUpdate(ctx, buf, static_cast<size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return to_hex(md, len);
}

// Path of `relative` under the shared directory (e.g. "models/stories260K.gguf"), after
// checking its SHA-256 against the SHA256SUMS file in the same directory.
inline std::filesystem::path verified_shared_file(const std::string& relative) {
  const std::filesystem::path path = std::filesystem::path(TRACEMARK_SHARED_DIR) / relative;
  const std::filesystem::path sums = path.parent_path() / "SHA256SUMS";
  REQUIRE_MESSAGE(std::filesystem::exists(path), "missing shared file " << path << " (needed by this test)");
  std::ifstream in(sums);
  REQUIRE_MESSAGE(in.good(), "missing checksum file " << sums);
  std::string line, expected;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string digest, name;
    fields >> digest >> name;
    if (!name.empty() && name[0] == '*') name.erase(0, 1);
    if (name == path.filename().string()) expected = digest;
  }
  REQUIRE_MESSAGE(!expected.empty(), path.filename() << " is not listed in " << sums);
  REQUIRE_MESSAGE(sha256_hex_of_file(path) == expected, "checksum mismatch for " << path);
  return path;
}

// The shared stories260K model (a 260K-parameter Llama, vocabulary 512), verified on first use.
inline const std::string& stories260K_path() {
  static const std::string path = verified_shared_file("models/stories260K.gguf").string();
  return path;
}

}  // namespace testing_util
