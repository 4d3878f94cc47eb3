// The byte layout of evidence files (corpus_evidence.h; docs/EVIDENCE.md "Evidence files"),
// version 1, every integer little-endian:
//
//   magic      "tracemark-evidence 1\n" (21 bytes)
//   header     u64 n, then n bytes of JSON: the metadata, counts and score encoding
//   tuples     n_tuples records sorted by (seed, token), strictly increasing:
//                u64 seed, u32 token, u32 owner            (score encoding "green-bit":
//                                                           owner bit 31 = score 1)
//                u64 seed, u32 token, u32 owner, f64 score (score encoding "f64")
//              owner = the entry (0-based, in this file) that scored the tuple first
//   entries    n_entries records: i64 document, i64 n_tokens, i64 scored, f64 score,
//              u32 id length, id bytes
//   footer     u64 n_tuples, u64 tuple record bytes, u64 entries offset, u64 entries bytes,
//              u64 n_entries, sha256(tuples), sha256(everything else before this hash),
//              "TMKEVEND"
#pragma once
#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "tracemark/error.h"

namespace tracemark::detail {

inline constexpr std::string_view evidence_magic = "tracemark-evidence 1\n";
inline constexpr std::string_view evidence_footer_magic = "TMKEVEND";
inline constexpr size_t evidence_footer_bytes = 5 * 8 + 32 + 32 + 8;
inline constexpr uint32_t green_bit = 0x80000000u;

inline void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline uint64_t get_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Streaming SHA-256 (OpenSSL EVP).
class sha256_stream {
 public:
  sha256_stream() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw error(errc::crypto, "OpenSSL: SHA-256 initialisation failed");
  }
  void update(const void* p, size_t n) {
    if (n > 0 && EVP_DigestUpdate(ctx_.get(), p, n) != 1) throw error(errc::crypto, "OpenSSL: SHA-256 failed");
  }
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::string finish() {
    unsigned char md[32];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1 || len != 32) throw error(errc::crypto, "OpenSSL: SHA-256 failed");
    return std::string(reinterpret_cast<const char*>(md), 32);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

// A FILE* that is closed on destruction; writes throw error{io} naming the file.
class output_file {
 public:
  explicit output_file(std::string path);
  ~output_file();
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  void write(const void* p, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  uint64_t offset() const noexcept { return offset_; }
  // Flushes, closes and renames the temporary file over the path.
  void commit();

 private:
  std::string path_, temp_;
  FILE* f_ = nullptr;
  uint64_t offset_ = 0;
};

}  // namespace tracemark::detail
