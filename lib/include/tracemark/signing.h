// Signed evidence records: Ed25519 signing keys and detached signatures over record files
// (docs/EVIDENCE.md, "Signed evidence").
//
// A signature covers the record file's exact bytes as tracemark wrote them (its writer is
// deterministic), so any changed byte, whitespace included, fails verification. Records
// can be gigabytes, so what is signed is a fixed-size message built from a digest that is
// streamed over the file:
//
//   message = "tracemark signed record v1\n" || LE64(record length in bytes) || SHA-256(record)
//
// signed with pure Ed25519 (RFC 8032; OpenSSL EVP_DigestSign without a digest).
//
// Files (UTF-8 text, LF line ends, a CR before the LF tolerated, '#' comment lines and
// empty lines ignored, each field exactly once in any order after the format line, at
// most 4096 bytes; the same line grammar as master key files, docs/SPEC.md §1):
//
//   signing key (secret; mode 0600, refused when (mode & 077) != 0, never printed):
//     tracemark-signing-key 1
//     private <64 hex: the 32-byte Ed25519 seed>
//     public <64 hex>
//     fingerprint tmks1:<16 hex>
//   public key (any mode; written next to the signing key as <file>.pub):
//     tracemark-public-key 1
//     public <64 hex>
//     fingerprint tmks1:<16 hex>
//   detached signature (<record>.sig):
//     tracemark-signature 1
//     algorithm ed25519
//     signer tmks1:<16 hex>
//     record-bytes <decimal>
//     record-sha256 <64 hex>
//     signature <128 hex>
//
// fingerprint = "tmks1:" || hex(first 8 bytes of SHA-256("tracemark signing key v1" || public key)).
//
// Ownership and threads: every object here is an immutable value (copyable, no shared
// state, no OpenSSL type in this header); const member functions and the free functions
// may be called from any number of threads at once. A signing_key holds its 32-byte seed
// in the object only: it is wiped on destruction and leaves the object only into the key
// file written by save() and into the OpenSSL key object that sign_file() creates and frees
// for each signature. No message of this API contains a secret.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tracemark/export.h"

namespace tracemark {

class public_key;
class signing_key;
struct record_signature;

// Streams the record file through SHA-256 (constant memory, any size) and signs it.
// Throws error{io} (record unreadable) or error{crypto}.
TRACEMARK_EXPORT record_signature sign_file(const signing_key& key, const std::string& record_path);

// The domain-separation prefix of the signed message (see above).
inline constexpr std::string_view signed_record_domain = "tracemark signed record v1\n";

// An Ed25519 public key and its fingerprint. Reading it needs no secrecy.
class TRACEMARK_EXPORT public_key {
 public:
  static constexpr size_t n_bytes = 32;
  using bytes = std::array<uint8_t, n_bytes>;

  // Wraps known bytes (tests, known-answer vectors). Does not check that they are a point
  // of the curve: a wrong key simply verifies nothing.
  static public_key from_bytes(const bytes& raw);
  // Reads a public key file. Throws error{key_missing} (no such file), error{key_corrupt}
  // (cannot be opened, malformed, fingerprint does not match the key, or a different kind
  // of tracemark file: the message says which), error{io} (read failure).
  static public_key load(const std::string& path);

  // Writes the public key file (mode 0644 less the umask); refuses to overwrite an
  // existing file: error{invalid_argument} when it exists, error{io} otherwise.
  void save(const std::string& path) const;
  // The file's text, exactly as save() writes it.
  std::string file_text() const;

  const bytes& raw() const noexcept { return raw_; }
  // "tmks1:" + 16 lowercase hex digits.
  const std::string& fingerprint() const noexcept { return fingerprint_; }

 private:
  explicit public_key(const bytes& raw);
  bytes raw_{};
  std::string fingerprint_;
};

// An Ed25519 signing (private) key.
class TRACEMARK_EXPORT signing_key {
 public:
  static constexpr size_t n_seed_bytes = 32;
  using seed_bytes = std::array<uint8_t, n_seed_bytes>;

  // A fresh key: 32 seed bytes from OpenSSL's private RNG (RAND_priv_bytes).
  // Throws error{crypto}.
  static signing_key generate();
  // Wraps a known seed (tests and RFC 8032 known-answer vectors only).
  static signing_key from_seed(const seed_bytes& seed);
  // Reads a signing key file. Throws error{key_missing} (no such file),
  // error{key_permissions} (group or others have any access), error{key_corrupt}
  // (cannot be opened, malformed, the public key or fingerprint does not match the
  // private seed, or a different kind of tracemark file), error{io} (read failure).
  // Messages name the file, the line and the problem, never line contents.
  static signing_key load(const std::string& path);

  // Writes `path` (O_EXCL, mode 0600) and then `path + ".pub"` (O_EXCL, public_key::save).
  // Refuses to overwrite either: error{invalid_argument} when one exists (nothing is left
  // behind), error{io} when writing fails.
  void save(const std::string& path) const;

  public_key public_part() const { return public_key::from_bytes(public_); }
  // "tmks1:" + 16 lowercase hex digits; public, safe to print.
  const std::string& fingerprint() const noexcept { return fingerprint_; }

  ~signing_key();
  signing_key(const signing_key&) = default;
  signing_key& operator=(const signing_key&) = default;

 private:
  explicit signing_key(const seed_bytes& seed);
  friend record_signature sign_file(const signing_key& key, const std::string& record_path);
  seed_bytes seed_{};
  public_key::bytes public_{};
  std::string fingerprint_;
};

// A detached signature over one record file (the .sig file's fields).
struct TRACEMARK_EXPORT record_signature {
  static constexpr size_t n_signature_bytes = 64;
  std::string signer;                       // "tmks1:" + 16 lowercase hex digits
  uint64_t record_bytes = 0;                // length of the signed record
  std::array<uint8_t, 32> record_sha256{};  // SHA-256 of the signed record
  std::array<uint8_t, n_signature_bytes> signature{};  // Ed25519 over the message above

  // The .sig file's text (algorithm ed25519, lowercase hex, LF line ends).
  std::string format() const;
  // Parses a .sig file's text. Throws error{invalid_argument} naming `source` (e.g. the
  // file name), the line and the problem: truncated (a field missing), a field twice, bad
  // hex, a wrong length, an unsupported algorithm, an unknown line.
  static record_signature parse(std::string_view text, const std::string& source);
  // Reads and parses a .sig file: error{io} when it cannot be read, otherwise as parse().
  static record_signature load(const std::string& path);
  // The 67-byte message that the Ed25519 signature covers.
  std::string signed_message() const;
};

// Writes a .sig file, replacing an existing one atomically (a temporary file in the same
// directory, then rename). Throws error{io}.
TRACEMARK_EXPORT void write_signature(const record_signature& signature, const std::string& path);

// What verification found. Everything but `valid` means: do not trust the record.
enum class verify_outcome {
  valid,                   // signed by the key given, record unchanged byte for byte
  malformed_signature,     // the .sig file is truncated or malformed (message: which line/field)
  wrong_signer,            // the .sig names another signer than the public key given
  bad_signature,           // the Ed25519 check failed: forged or corrupted signature
  record_length_changed,   // the record's length differs from the signed length
  record_content_changed,  // same length, different SHA-256
};

struct TRACEMARK_EXPORT verify_result {
  verify_outcome outcome = verify_outcome::malformed_signature;
  // One line for humans. valid: "<record> was signed by tmks1:... and is unchanged
  // (N bytes, sha256 ...)"; otherwise what failed, e.g. "the record has changed since it
  // was signed (content differs: ...)".
  std::string message;
  bool valid() const noexcept { return outcome == verify_outcome::valid; }
};

// Checks a signature against a public key and a record file, in this order: the signer
// named in the signature is the key's fingerprint; the Ed25519 signature over the signed
// length and digest is valid (so those two fields are authentic); the record has that
// length and digest now (streamed, constant memory). Invalid outcomes are returned, not
// thrown; throws error{io} only when the record cannot be read.
TRACEMARK_EXPORT verify_result verify_file(const record_signature& signature, const public_key& key,
                                           const std::string& record_path);
// Same, reading the .sig file first: a malformed one gives malformed_signature; throws
// error{io} when the record or the .sig file cannot be read.
TRACEMARK_EXPORT verify_result verify_file(const std::string& signature_path, const public_key& key,
                                           const std::string& record_path);

}  // namespace tracemark
