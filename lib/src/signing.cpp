// Signed evidence records (tracemark/signing.h): Ed25519 key files, detached signatures
// over a streamed SHA-256 of the record, and their verification. Key files are read,
// written and parsed by key_file_text.h (the line grammar of master key files, docs/SPEC.md
// §1); .sig files by signature_file.cpp.
#include "tracemark/signing.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "hex.h"
#include "key_file_text.h"
#include "tracemark/error.h"

namespace tracemark {
namespace {

constexpr std::string_view fingerprint_prefix = detail::signing_key_fingerprint_prefix;
constexpr std::string_view fingerprint_domain = "tracemark signing key v1";
constexpr size_t digest_bytes = 32;
constexpr size_t stream_buffer_bytes = size_t{1} << 20;  // the record is streamed in 1 MiB reads

using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using evp_md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string signing_key_label(const std::string& path) { return "signing key file " + path; }
std::string public_key_label(const std::string& path) { return "public key file " + path; }

// A key file format whose reader names another of tracemark's files when given one.
detail::key_file_format key_format(std::string_view format_line, std::string_view expected) {
  return {.format_line = format_line, .expected = expected, .recognise = detail::tracemark_file_kind};
}

// ---- OpenSSL ----

std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return std::string(" (") + buf + ")";
}

std::array<uint8_t, digest_bytes> sha256(std::string_view a, const uint8_t* b, size_t nb) {
  evp_md_ctx_ptr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::array<uint8_t, digest_bytes> out{};
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), a.data(), a.size()) != 1 || EVP_DigestUpdate(ctx.get(), b, nb) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size())
    throw error(errc::crypto, "OpenSSL: SHA-256 failed" + openssl_reason());
  return out;
}

std::string compute_fingerprint(const public_key::bytes& raw) {
  const auto h = sha256(fingerprint_domain, raw.data(), raw.size());
  return std::string(fingerprint_prefix) + detail::to_hex(h.data(), detail::fingerprint_bytes);
}

evp_pkey_ptr private_pkey(const signing_key::seed_bytes& seed) {
  evp_pkey_ptr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()),
                    &EVP_PKEY_free);
  if (!pkey) throw error(errc::crypto, "OpenSSL: cannot make an Ed25519 private key" + openssl_reason());
  return pkey;
}

public_key::bytes derive_public(const signing_key::seed_bytes& seed) {
  const evp_pkey_ptr pkey = private_pkey(seed);
  public_key::bytes pub{};
  size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub.data(), &len) != 1 || len != pub.size())
    throw error(errc::crypto, "OpenSSL: cannot derive the Ed25519 public key" + openssl_reason());
  return pub;
}

struct file_digest {
  uint64_t bytes = 0;
  std::array<uint8_t, digest_bytes> sha256{};
};

// Streams the file through SHA-256 in 1 MiB reads: constant memory whatever its size.
file_digest digest_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw error(errc::io, "record " + path + ": cannot open: " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw error(errc::io, "record " + path + ": not a regular file");
  }
  evp_md_ctx_ptr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), EVP_sha256(), nullptr) != 1) {
    ::close(fd);
    throw error(errc::crypto, "OpenSSL: SHA-256 is not available" + openssl_reason());
  }
  std::vector<uint8_t> buf(stream_buffer_bytes);
  file_digest d;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      throw error(errc::io, "record " + path + ": read failed: " + std::strerror(e));
    }
    if (n == 0) break;
    if (EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n)) != 1) {
      ::close(fd);
      throw error(errc::crypto, "OpenSSL: SHA-256 failed" + openssl_reason());
    }
    d.bytes += static_cast<uint64_t>(n);
  }
  ::close(fd);
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), d.sha256.data(), &len) != 1 || len != d.sha256.size())
    throw error(errc::crypto, "OpenSSL: SHA-256 failed" + openssl_reason());
  return d;
}

}  // namespace

// ---- public_key ----

public_key::public_key(const bytes& raw) : raw_(raw), fingerprint_(compute_fingerprint(raw)) {}

public_key public_key::from_bytes(const bytes& raw) { return public_key(raw); }

public_key public_key::load(const std::string& path) {
  const std::string label = public_key_label(path);
  const std::string text = detail::read_protected_file(path, detail::max_key_file_bytes, {label, "key file", ""});
  detail::key_file_field fields[] = {{"public"}, {"fingerprint"}};
  std::string problem =
      detail::parse_key_file(text, key_format(detail::public_key_format_line, "a tracemark public key file"), fields);
  bytes raw{};
  if (problem.empty() && !detail::from_hex(fields[0].value, raw.data(), raw.size()))
    problem = detail::hex_problem(detail::at_line(fields[0].line), "the public key", raw.size(), fields[0].value.size());
  if (problem.empty() && !detail::is_fingerprint_text(fields[1].value, fingerprint_prefix))
    problem = detail::at_line(fields[1].line) + ": the fingerprint is not 'tmks1:' and 16 hexadecimal digits";
  if (!problem.empty()) throw error(errc::key_corrupt, label + ": " + problem);
  public_key k(raw);
  if (k.fingerprint() != detail::lowercase_hex(fields[1].value))
    throw error(errc::key_corrupt, label + ": " + detail::at_line(fields[1].line) +
                                       ": the fingerprint does not match the public key (file corrupted or edited)");
  return k;
}

std::string public_key::file_text() const {
  return std::string(detail::public_key_format_line) + "\npublic " + detail::to_hex(raw_.data(), raw_.size()) +
         "\nfingerprint " + fingerprint_ + "\n";
}

void public_key::save(const std::string& path) const {
  detail::write_new_file(path, file_text(), false, public_key_label(path));
}

// ---- signing_key ----

signing_key::signing_key(const seed_bytes& seed)
    : seed_(seed), public_(derive_public(seed)), fingerprint_(compute_fingerprint(public_)) {}

signing_key::~signing_key() { OPENSSL_cleanse(seed_.data(), seed_.size()); }

signing_key signing_key::generate() {
  seed_bytes s{};
  if (RAND_priv_bytes(s.data(), static_cast<int>(s.size())) != 1)
    throw error(errc::crypto, "OpenSSL: RAND_priv_bytes failed; no signing key was generated");
  try {
    signing_key k(s);
    OPENSSL_cleanse(s.data(), s.size());
    return k;
  } catch (...) {
    OPENSSL_cleanse(s.data(), s.size());
    throw;
  }
}

signing_key signing_key::from_seed(const seed_bytes& seed) { return signing_key(seed); }

signing_key signing_key::load(const std::string& path) {
  const std::string label = signing_key_label(path);
  std::string text = detail::read_protected_file(path, detail::max_key_file_bytes, {label, "key file", "private key"});
  // Parsed in place: the seed is copied out of `text` only into `seed`.
  detail::key_file_field fields[] = {{"private"}, {"public"}, {"fingerprint"}};
  std::string problem = detail::parse_key_file(
      text, key_format(detail::signing_key_format_line, "a tracemark signing key file"), fields);
  seed_bytes seed{};
  public_key::bytes pub{};
  if (problem.empty() && !detail::from_hex(fields[0].value, seed.data(), seed.size()))
    problem = detail::hex_problem(detail::at_line(fields[0].line), "the private key", seed.size(),
                                  fields[0].value.size());
  if (problem.empty() && !detail::from_hex(fields[1].value, pub.data(), pub.size()))
    problem =
        detail::hex_problem(detail::at_line(fields[1].line), "the public key", pub.size(), fields[1].value.size());
  if (problem.empty() && !detail::is_fingerprint_text(fields[2].value, fingerprint_prefix))
    problem = detail::at_line(fields[2].line) + ": the fingerprint is not 'tmks1:' and 16 hexadecimal digits";
  const std::string fingerprint_text = problem.empty() ? detail::lowercase_hex(fields[2].value) : "";
  const int public_line = fields[1].line, fingerprint_line = fields[2].line;
  OPENSSL_cleanse(text.data(), text.size());
  if (!problem.empty()) {
    OPENSSL_cleanse(seed.data(), seed.size());
    throw error(errc::key_corrupt, label + ": " + problem);
  }
  std::optional<signing_key> k;
  try {
    k.emplace(signing_key(seed));
  } catch (...) {
    OPENSSL_cleanse(seed.data(), seed.size());
    throw;
  }
  OPENSSL_cleanse(seed.data(), seed.size());
  if (k->public_ != pub)
    throw error(errc::key_corrupt, label + ": " + detail::at_line(public_line) +
                                       ": the public key does not match the private key (file corrupted or edited)");
  if (k->fingerprint_ != fingerprint_text)
    throw error(errc::key_corrupt, label + ": " + detail::at_line(fingerprint_line) +
                                       ": the fingerprint does not match the key (file corrupted or edited)");
  return *k;
}

void signing_key::save(const std::string& path) const {
  const std::string pub_path = path + ".pub";
  // Neither file may exist; say which (the O_EXCL creations below are what guarantees it).
  struct stat st {};
  for (const auto& [p, label] :
       {std::pair{path, signing_key_label(path)}, std::pair{pub_path, public_key_label(pub_path)}})
    if (::lstat(p.c_str(), &st) == 0)
      throw error(errc::invalid_argument, label + ": cannot create: File exists (refusing to overwrite an existing file)");
  std::string text =
      "# tracemark signing key (Ed25519). Private: keep mode 0600, never share or commit; publish only the .pub file.\n";
  text += detail::signing_key_format_line;
  text += "\nprivate " + detail::to_hex(seed_.data(), seed_.size()) + "\npublic " +
          detail::to_hex(public_.data(), public_.size()) + "\nfingerprint " + fingerprint_ + "\n";
  try {
    detail::write_new_file(path, text, true, signing_key_label(path));
  } catch (...) {
    OPENSSL_cleanse(text.data(), text.size());
    throw;
  }
  OPENSSL_cleanse(text.data(), text.size());
  try {
    public_part().save(pub_path);
  } catch (...) {
    ::unlink(path.c_str());  // no private key without its public half
    throw;
  }
}

// ---- signing and verifying ----

record_signature sign_file(const signing_key& key, const std::string& record_path) {
  const file_digest d = digest_file(record_path);
  record_signature s;
  s.signer = key.fingerprint_;
  s.record_bytes = d.bytes;
  s.record_sha256 = d.sha256;
  const std::string message = s.signed_message();
  const evp_pkey_ptr pkey = private_pkey(key.seed_);
  evp_md_ctx_ptr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  size_t len = s.signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), s.signature.data(), &len, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      len != s.signature.size())
    throw error(errc::crypto, "OpenSSL: Ed25519 signing failed" + openssl_reason());
  return s;
}

verify_result verify_file(const record_signature& signature, const public_key& key, const std::string& record_path) {
  verify_result r;
  if (signature.signer != key.fingerprint()) {
    r.outcome = verify_outcome::wrong_signer;
    r.message = "the signature was made by " + signature.signer + ", but the public key is " + key.fingerprint() +
                " (a different key: get the signer's public key, or the record was signed by someone else)";
    return r;
  }
  // The signature first: when it holds, the signed length and digest are authentic, and a
  // mismatch with the record can only mean that the record changed.
  const evp_pkey_ptr pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.raw().data(), key.raw().size()), &EVP_PKEY_free);
  if (!pkey) throw error(errc::crypto, "OpenSSL: cannot make an Ed25519 public key" + openssl_reason());
  evp_md_ctx_ptr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1)
    throw error(errc::crypto, "OpenSSL: cannot start an Ed25519 verification" + openssl_reason());
  const std::string message = signature.signed_message();
  const int ok = EVP_DigestVerify(ctx.get(), signature.signature.data(), signature.signature.size(),
                                  reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ERR_clear_error();  // a failed check leaves entries on OpenSSL's error queue
  if (ok != 1) {
    r.outcome = verify_outcome::bad_signature;
    r.message = "the signature does not match (forged or corrupted signature): it is not a valid Ed25519 signature "
                "by " + key.fingerprint() + " of the record-bytes and record-sha256 it states";
    return r;
  }
  const file_digest d = digest_file(record_path);
  const std::string signed_hex = detail::to_hex(signature.record_sha256.data(), signature.record_sha256.size());
  const std::string now_hex = detail::to_hex(d.sha256.data(), d.sha256.size());
  if (d.bytes != signature.record_bytes) {
    r.outcome = verify_outcome::record_length_changed;
    r.message = "the record has changed since it was signed (length differs: " + record_path + " is " +
                std::to_string(d.bytes) + " bytes, the signed record was " + std::to_string(signature.record_bytes) +
                " bytes)";
    return r;
  }
  if (d.sha256 != signature.record_sha256) {
    r.outcome = verify_outcome::record_content_changed;
    r.message = "the record has changed since it was signed (content differs: " + record_path +
                " has the signed length, " + std::to_string(d.bytes) + " bytes, but sha256 " + now_hex +
                " instead of the signed " + signed_hex + ")";
    return r;
  }
  r.outcome = verify_outcome::valid;
  r.message = record_path + " was signed by " + signature.signer + " and is unchanged (" + std::to_string(d.bytes) +
              " bytes, sha256 " + now_hex + ")";
  return r;
}

verify_result verify_file(const std::string& signature_path, const public_key& key, const std::string& record_path) {
  std::optional<record_signature> sig;
  try {
    sig.emplace(record_signature::load(signature_path));
  } catch (const error& e) {
    if (e.code() == errc::io) throw;
    verify_result r;
    r.outcome = verify_outcome::malformed_signature;
    r.message = std::string("the signature file is malformed or truncated: ") + e.what();
    return r;
  }
  return verify_file(*sig, key, record_path);
}

}  // namespace tracemark
