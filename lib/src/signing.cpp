// Signed evidence records (tracemark/signing.h): Ed25519 key files, detached signatures
// over a streamed SHA-256 of the record, and their verification. The file readers follow
// the line grammar of master key files (docs/SPEC.md §1, lib/src/key.cpp).
#include "tracemark/signing.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "hex.h"
#include "tracemark/error.h"
#include "tracemark/text.h"

namespace tracemark {
namespace {

constexpr std::string_view signing_key_magic = "tracemark-signing-key 1";
constexpr std::string_view public_key_magic = "tracemark-public-key 1";
constexpr std::string_view signature_magic = "tracemark-signature 1";
constexpr std::string_view master_key_magic = "tracemark-key 1";
constexpr std::string_view fingerprint_prefix = "tmks1:";
constexpr std::string_view fingerprint_domain = "tracemark signing key v1";
constexpr std::string_view algorithm_name = "ed25519";
constexpr size_t max_file_bytes = 4096;
constexpr size_t fingerprint_bytes = 8;
constexpr size_t digest_bytes = 32;
constexpr size_t stream_buffer_bytes = size_t{1} << 20;  // the record is streamed in 1 MiB reads
constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using evp_md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// ---- the line grammar of key files (docs/SPEC.md §1) ----


bool has_control_character(std::string_view s) noexcept {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return true;
  }
  return false;
}

// One field of a file: its name, and where and what it was.
struct field {
  std::string_view name;
  std::string_view value;
  int line = 0;
  bool seen = false;
};

// What a file's format line says it is, for messages when the wrong file is given.
std::string kind_of(std::string_view magic_line) {
  if (magic_line == master_key_magic) return "a watermark master key file ('tracemark keygen')";
  if (magic_line == signing_key_magic) return "a signing (private) key file ('tracemark keygen --signing')";
  if (magic_line == public_key_magic) return "a public key file (.pub)";
  if (magic_line == signature_magic) return "a signature file (.sig)";
  return "";
}

// Parses `text` in place (string_views into it). Returns the problem, or "" when every
// field was found exactly once. Problems name line numbers only, never line contents.
std::string parse_fields(std::string_view text, std::string_view magic, std::string_view expected_kind,
                         field* fields, size_t n_fields) {
  if (text.starts_with(utf8_bom)) return "line 1 starts with a UTF-8 byte order mark; save the file without one";
  bool saw_magic = false;
  int line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    const bool terminated = eol != std::string_view::npos;
    if (!terminated) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    const std::string at = "line " + std::to_string(line_no);
    if (terminated && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first_invalid_utf8(line) != std::string_view::npos) return at + " is not valid UTF-8";
    if (has_control_character(line)) return at + " contains a control character (only tab is allowed, in comments)";
    if (line.empty() || line[0] == '#') continue;
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos) return at + " holds only spaces or tabs (a blank line must be empty)";
    if (line[first] == '#') return at + " is an indented comment ('#' must be the first character)";
    if (line.back() == ' ' || line.back() == '\t') return at + " ends in a space or tab";
    if (!saw_magic) {
      if (line != magic) {
        const std::string other = kind_of(line);
        if (!other.empty()) return "this is " + other + ", not " + std::string(expected_kind);
        return at + " is not '" + std::string(magic) + "'; not " + std::string(expected_kind);
      }
      saw_magic = true;
      continue;
    }
    const size_t space = line.find(' ');
    field* match = nullptr;
    if (space != std::string_view::npos)
      for (size_t i = 0; i < n_fields; ++i)
        if (line.substr(0, space) == fields[i].name) match = &fields[i];
    if (match == nullptr) {
      std::string names;
      for (size_t i = 0; i < n_fields; ++i)
        names += (i == 0 ? "" : i + 1 == n_fields ? " or " : ", ") + ("'" + std::string(fields[i].name) + "'");
      return at + " is not a " + names + " line (field name, one space, value)";
    }
    if (match->seen)
      return at + ": '" + std::string(match->name) + "' appears twice (first on line " + std::to_string(match->line) + ")";
    match->seen = true;
    match->line = line_no;
    match->value = line.substr(space + 1);
  }
  if (!saw_magic) return "empty or truncated (no '" + std::string(magic) + "' line)";
  for (size_t i = 0; i < n_fields; ++i)
    if (!fields[i].seen) return "truncated (missing '" + std::string(fields[i].name) + "' line)";
  return "";
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

// Whether `value` is "tmks1:" and 16 hex digits.
bool valid_fingerprint_text(std::string_view value) {
  uint8_t fp[fingerprint_bytes];
  return value.starts_with(fingerprint_prefix) &&
         detail::from_hex(value.substr(fingerprint_prefix.size()), fp, sizeof fp);
}

// "the private key is not 64 hexadecimal digits (it has 63 characters)".
std::string hex_problem(const std::string& at, std::string_view what, size_t n_bytes, size_t got_chars) {
  std::string s = at + ": " + std::string(what) + " is not " + std::to_string(2 * n_bytes) + " hexadecimal digits";
  if (got_chars != 2 * n_bytes) s += " (it has " + std::to_string(got_chars) + " characters)";
  return s;
}

// ---- small files ----

enum class file_kind { signing_key, public_key, signature };

std::string file_label(file_kind kind, const std::string& path) {
  switch (kind) {
    case file_kind::signing_key:
      return "signing key file " + path;
    case file_kind::public_key:
      return "public key file " + path;
    case file_kind::signature:
      break;
  }
  return "signature file " + path;
}

std::string mode_string(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Reads a key or signature file (at most max_file_bytes). For the signing key: regular
// file only, refused when group or others have any access (checked on the opened file),
// and every buffer that held the text is wiped.
std::string read_small_file(const std::string& path, file_kind kind) {
  const bool secret = kind == file_kind::signing_key;
  const bool is_key = kind != file_kind::signature;
  const std::string label = file_label(kind, path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw error(!is_key ? errc::io : e == ENOENT ? errc::key_missing : errc::key_corrupt,
                label + ": " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode) || (secret && !S_ISREG(st.st_mode))) {
    ::close(fd);
    throw error(is_key ? errc::key_corrupt : errc::io, label + ": not a regular file");
  }
  if (secret && (st.st_mode & 077) != 0) {
    ::close(fd);
    throw error(errc::key_permissions,
                label + ": mode " + mode_string(st.st_mode) +
                    " lets group or others access the private key; refusing it. Fix with: chmod 600 " + path);
  }
  std::string data;
  data.reserve(max_file_bytes + 1);  // no reallocation: no stray copies of a secret
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      OPENSSL_cleanse(data.data(), data.size());
      throw error(errc::io, label + ": read failed: " + std::strerror(e));
    }
    if (n == 0) break;
    if (data.size() + static_cast<size_t>(n) > max_file_bytes) {
      ::close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      OPENSSL_cleanse(data.data(), data.size());
      throw error(is_key ? errc::key_corrupt : errc::invalid_argument,
                  label + ": larger than " + std::to_string(max_file_bytes) + " bytes, not a tracemark " +
                      (kind == file_kind::signature ? "signature file" : "key file"));
    }
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  OPENSSL_cleanse(buf, sizeof buf);
  return data;
}

// Writes all of `text` to `fd`; returns 0 or errno.
int write_all(int fd, std::string_view text) {
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

// Creates `path` (O_EXCL) with `text`; mode 0600 exactly when `secret`, else 0644 less the
// umask. On failure nothing is left behind.
void write_new_file(const std::string& path, std::string_view text, bool secret, const std::string& label) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0) {
    const int e = errno;
    throw error(e == EEXIST ? errc::invalid_argument : errc::io,
                label + ": cannot create: " + std::strerror(e) +
                    (e == EEXIST ? " (refusing to overwrite an existing file)" : ""));
  }
  if (secret) ::fchmod(fd, 0600);  // umask can only clear bits; be explicit anyway
  const int e = write_all(fd, text);
  if (e != 0) {
    ::close(fd);
    ::unlink(path.c_str());
    throw error(errc::io, label + ": write failed: " + std::strerror(e));
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(path.c_str());
    throw error(errc::io, label + ": could not be written to disk");
  }
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
  return std::string(fingerprint_prefix) + detail::to_hex(h.data(), fingerprint_bytes);
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

std::string signed_message_of(uint64_t record_bytes, const std::array<uint8_t, digest_bytes>& sha) {
  std::string m(signed_record_domain);
  for (int i = 0; i < 8; ++i) m.push_back(static_cast<char>((record_bytes >> (8 * i)) & 0xFF));
  m.append(reinterpret_cast<const char*>(sha.data()), sha.size());
  return m;
}

// Parses a decimal uint64 without sign, leading zeros or blanks.
bool parse_decimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  out = v;
  return true;
}

// A short, printable rendering of a public field's value for messages.
std::string quoted(std::string_view value) {
  constexpr size_t max_chars = 40;
  if (value.size() <= max_chars) return "'" + std::string(value) + "'";
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8 characters
  return "'" + std::string(value.substr(0, cut)) + "...'";
}

}  // namespace

// ---- public_key ----

public_key::public_key(const bytes& raw) : raw_(raw), fingerprint_(compute_fingerprint(raw)) {}

public_key public_key::from_bytes(const bytes& raw) { return public_key(raw); }

public_key public_key::load(const std::string& path) {
  const std::string label = file_label(file_kind::public_key, path);
  const std::string text = read_small_file(path, file_kind::public_key);
  field fields[] = {{"public", {}, 0, false}, {"fingerprint", {}, 0, false}};
  std::string problem = parse_fields(text, public_key_magic, "a tracemark public key file", fields, 2);
  bytes raw{};
  if (problem.empty() && !detail::from_hex(fields[0].value, raw.data(), raw.size()))
    problem = hex_problem("line " + std::to_string(fields[0].line), "the public key", raw.size(), fields[0].value.size());
  if (problem.empty() && !valid_fingerprint_text(fields[1].value))
    problem = "line " + std::to_string(fields[1].line) + ": the fingerprint is not 'tmks1:' and 16 hexadecimal digits";
  if (!problem.empty()) throw error(errc::key_corrupt, label + ": " + problem);
  public_key k(raw);
  if (k.fingerprint() != lowercase(fields[1].value))
    throw error(errc::key_corrupt, label + ": line " + std::to_string(fields[1].line) +
                                       ": the fingerprint does not match the public key (file corrupted or edited)");
  return k;
}

std::string public_key::file_text() const {
  return std::string(public_key_magic) + "\npublic " + detail::to_hex(raw_.data(), raw_.size()) + "\nfingerprint " +
         fingerprint_ + "\n";
}

void public_key::save(const std::string& path) const {
  write_new_file(path, file_text(), false, file_label(file_kind::public_key, path));
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
  const std::string label = file_label(file_kind::signing_key, path);
  std::string text = read_small_file(path, file_kind::signing_key);
  // Parsed in place: the seed is copied out of `text` only into `seed`, and messages name
  // line numbers, never contents (a malformed line may hold the private key).
  field fields[] = {{"private", {}, 0, false}, {"public", {}, 0, false}, {"fingerprint", {}, 0, false}};
  std::string problem = parse_fields(text, signing_key_magic, "a tracemark signing key file", fields, 3);
  seed_bytes seed{};
  public_key::bytes pub{};
  if (problem.empty() && !detail::from_hex(fields[0].value, seed.data(), seed.size()))
    problem = hex_problem("line " + std::to_string(fields[0].line), "the private key", seed.size(),
                          fields[0].value.size());
  if (problem.empty() && !detail::from_hex(fields[1].value, pub.data(), pub.size()))
    problem = hex_problem("line " + std::to_string(fields[1].line), "the public key", pub.size(), fields[1].value.size());
  if (problem.empty() && !valid_fingerprint_text(fields[2].value))
    problem = "line " + std::to_string(fields[2].line) + ": the fingerprint is not 'tmks1:' and 16 hexadecimal digits";
  const std::string fingerprint_text = problem.empty() ? lowercase(fields[2].value) : "";
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
    throw error(errc::key_corrupt, label + ": line " + std::to_string(public_line) +
                                       ": the public key does not match the private key (file corrupted or edited)");
  if (k->fingerprint_ != fingerprint_text)
    throw error(errc::key_corrupt, label + ": line " + std::to_string(fingerprint_line) +
                                       ": the fingerprint does not match the key (file corrupted or edited)");
  return *k;
}

void signing_key::save(const std::string& path) const {
  const std::string pub_path = path + ".pub";
  // Neither file may exist; say which (the O_EXCL creations below are what guarantees it).
  struct stat st {};
  for (const auto& [p, kind] : {std::pair{path, file_kind::signing_key}, std::pair{pub_path, file_kind::public_key}})
    if (::lstat(p.c_str(), &st) == 0)
      throw error(errc::invalid_argument,
                  file_label(kind, p) + ": cannot create: File exists (refusing to overwrite an existing file)");
  std::string text =
      "# tracemark signing key (Ed25519). Private: keep mode 0600, never share or commit; publish only the .pub file.\n";
  text += signing_key_magic;
  text += "\nprivate " + detail::to_hex(seed_.data(), seed_.size()) + "\npublic " +
          detail::to_hex(public_.data(), public_.size()) + "\nfingerprint " + fingerprint_ + "\n";
  try {
    write_new_file(path, text, true, file_label(file_kind::signing_key, path));
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

// ---- record_signature ----

std::string record_signature::format() const {
  return std::string(signature_magic) + "\nalgorithm " + std::string(algorithm_name) + "\nsigner " + signer +
         "\nrecord-bytes " + std::to_string(record_bytes) + "\nrecord-sha256 " +
         detail::to_hex(record_sha256.data(), record_sha256.size()) + "\nsignature " +
         detail::to_hex(signature.data(), signature.size()) + "\n";
}

std::string record_signature::signed_message() const { return signed_message_of(record_bytes, record_sha256); }

record_signature record_signature::parse(std::string_view text, const std::string& source) {
  field fields[] = {{"algorithm", {}, 0, false},     {"signer", {}, 0, false},    {"record-bytes", {}, 0, false},
                    {"record-sha256", {}, 0, false}, {"signature", {}, 0, false}};
  std::string problem = parse_fields(text, signature_magic, "a tracemark signature file", fields, 5);
  record_signature s;
  const auto at = [&](const field& f) { return "line " + std::to_string(f.line); };
  if (problem.empty() && fields[0].value != algorithm_name)
    problem = at(fields[0]) + ": algorithm " + quoted(fields[0].value) + " is not supported (only ed25519)";
  if (problem.empty() && !valid_fingerprint_text(fields[1].value))
    problem = at(fields[1]) + ": the signer is not 'tmks1:' and 16 hexadecimal digits";
  if (problem.empty() && !parse_decimal(fields[2].value, s.record_bytes))
    problem = at(fields[2]) + ": record-bytes is not a decimal number of bytes";
  if (problem.empty() && !detail::from_hex(fields[3].value, s.record_sha256.data(), s.record_sha256.size()))
    problem = hex_problem(at(fields[3]), "record-sha256", s.record_sha256.size(), fields[3].value.size());
  if (problem.empty() && !detail::from_hex(fields[4].value, s.signature.data(), s.signature.size()))
    problem = hex_problem(at(fields[4]), "the signature", s.signature.size(), fields[4].value.size());
  if (!problem.empty()) throw error(errc::invalid_argument, source + ": " + problem);
  s.signer = lowercase(fields[1].value);
  return s;
}

record_signature record_signature::load(const std::string& path) {
  const std::string text = read_small_file(path, file_kind::signature);
  return parse(text, file_label(file_kind::signature, path));
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

void write_signature(const record_signature& signature, const std::string& path) {
  static std::atomic<unsigned> counter{0};
  const std::string label = file_label(file_kind::signature, path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  write_new_file(tmp, signature.format(), false, label + " (temporary " + tmp + ")");
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw error(errc::io, label + ": cannot replace: " + std::strerror(e));
  }
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
