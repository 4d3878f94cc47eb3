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
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tracemark/corpus.h"
#include "tracemark/corpus_evidence.h"
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

// Scores are stored as one bit (bit 31 of the owner word) when they can only be 0 or 1.
bool green_bit_encoding(const null_distribution& null) noexcept;

// {"name", "kind", "n_vocab", "sha256"}: the tokenizer's identity as every record and
// evidence file writes it.
nlohmann::ordered_json tokenizer_json(const tokenizer_identity& t);

// The metadata as header JSON (doubles and byte strings in hex, so they round-trip exactly),
// and back (error{invalid_argument} naming `path` when a field is missing or malformed).
nlohmann::ordered_json metadata_json(const evidence_metadata& m);
evidence_metadata metadata_from_json(const std::string& path, const nlohmann::json& j);

[[noreturn]] void evidence_corrupt(const std::string& path, const std::string& what);

// Writes the parts of an evidence file in order: the header (at construction), tuples in
// increasing (seed, token) order, then finish() writes the entries and the footer and
// renames the temporary file over the path. Not thread-safe.
class evidence_writer {
 public:
  evidence_writer(const std::string& path, const nlohmann::ordered_json& header, bool green_bits);
  void tuple(uint64_t seed, uint32_t token, uint32_t owner, double score);
  void finish(std::span<const corpus_entry> entries, std::span<const std::string> ids);

 private:
  void flush_tuples();
  output_file out_;
  bool green_bits_;
  std::string buffer_;
  uint64_t n_tuples_ = 0;
  sha256_stream tuple_sha_, meta_sha_;
};

// Reads one evidence file: header and entries (checked against their checksum) at
// construction, tuples streamed in order by next(). Errors name the file: errc::io when it
// cannot be read, errc::invalid_argument when it is not an evidence file or is corrupt.
// Not thread-safe.
class evidence_reader {
 public:
  explicit evidence_reader(std::string path);
  ~evidence_reader();
  evidence_reader(const evidence_reader&) = delete;
  evidence_reader& operator=(const evidence_reader&) = delete;

  const std::string& path() const { return path_; }
  const evidence_metadata& metadata() const { return metadata_; }
  const nlohmann::json& header() const { return header_; }
  std::vector<corpus_entry>& entries() { return entries_; }
  std::vector<std::string>& ids() { return ids_; }
  uint64_t n_tuples() const { return n_tuples_; }

  // The next tuple, in (seed, token) order; false at the end (after checking the tuples'
  // checksum). Owners are checked against the number of entries.
  bool next(uint64_t& seed, uint32_t& token, uint32_t& owner, double& score);

 private:
  std::string read_at(uint64_t offset, uint64_t n);
  void read_footer();
  void read_header_and_entries();
  void refill();

  std::string path_;
  FILE* f_ = nullptr;
  uint64_t size_ = 0, n_tuples_ = 0, record_bytes_ = 16, entries_offset_ = 0, entries_bytes_ = 0, n_entries_ = 0;
  uint64_t tuples_offset_ = 0;
  std::string tuple_sha_expected_, meta_sha_expected_, footer_hashed_;
  nlohmann::json header_;
  evidence_metadata metadata_;
  std::vector<corpus_entry> entries_;
  std::vector<std::string> ids_;
  std::string buf_;
  size_t pos_ = 0;
  uint64_t read_tuples_ = 0, last_seed_ = 0;
  uint32_t last_token_ = 0;
  bool checked_ = false;
  sha256_stream tuple_sha_;
};

}  // namespace tracemark::detail
