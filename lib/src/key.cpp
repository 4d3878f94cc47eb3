// Key files, docs/SPEC.md §1.
#include "tracemark/key.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "hex.h"
#include "hkdf.h"
#include "tracemark/error.h"

namespace tracemark {
namespace {

constexpr std::string_view magic_line = "tracemark-key 1";
constexpr size_t max_key_file_bytes = 4096;

std::string compute_fingerprint(const key::secret_bytes& secret) {
  uint8_t fp[8];
  detail::hkdf_sha256(secret.data(), secret.size(), detail::format_v1_salt, "fingerprint", fp,
                      sizeof fp);
  return "tmk1:" + detail::to_hex(fp, sizeof fp);
}

std::string mode_string(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Opens first and checks the opened file (fstat), so the file checked is the file read.
std::string read_key_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw error(e == ENOENT ? errc::key_missing : errc::key_corrupt,
                "key file " + path + ": " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw error(errc::key_corrupt, "key file " + path + ": not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    throw error(errc::key_permissions,
                "key file " + path + ": mode " + mode_string(st.st_mode) +
                    " lets group or others access the secret; refusing it. Fix with: chmod 600 " + path);
  }
  std::string data;
  data.reserve(max_key_file_bytes + 1);  // no reallocation: no stray copies of the secret
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      OPENSSL_cleanse(data.data(), data.size());
      throw error(errc::io, "key file " + path + ": read failed: " + std::strerror(e));
    }
    if (n == 0) break;
    if (data.size() + static_cast<size_t>(n) > max_key_file_bytes) {
      ::close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      OPENSSL_cleanse(data.data(), data.size());
      throw error(errc::key_corrupt, "key file " + path + ": larger than " +
                                         std::to_string(max_key_file_bytes) +
                                         " bytes, not a tracemark key file");
    }
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  OPENSSL_cleanse(buf, sizeof buf);
  return data;
}

}  // namespace

key::key(const secret_bytes& secret) : secret_(secret), fingerprint_(compute_fingerprint(secret)) {}

key::~key() { OPENSSL_cleanse(secret_.data(), secret_.size()); }

key key::generate() {
  secret_bytes s{};
  if (RAND_priv_bytes(s.data(), static_cast<int>(s.size())) != 1)
    throw error(errc::crypto, "OpenSSL: RAND_priv_bytes failed; no key was generated");
  key k(s);
  OPENSSL_cleanse(s.data(), s.size());
  return k;
}

key key::from_secret(const secret_bytes& secret) { return key(secret); }

key key::load(const std::string& path) {
  std::string text = read_key_file(path);
  // Parsed in place with string_views: the secret is never copied out of `text`.
  std::string_view secret_hex, fingerprint;
  bool saw_magic = false;
  int line_no = 0;
  std::string problem;
  for (size_t pos = 0; pos < text.size() && problem.empty();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    // Messages name the line number and field only: the line may hold the secret.
    if (!saw_magic) {
      if (line != magic_line)
        problem = "line " + std::to_string(line_no) + " is not '" + std::string(magic_line) +
                  "'; not a tracemark v1 key file";
      saw_magic = true;
    } else if (line.starts_with("secret ")) {
      if (!secret_hex.empty()) problem = "'secret' appears twice";
      secret_hex = line.substr(7);
    } else if (line.starts_with("fingerprint ")) {
      if (!fingerprint.empty()) problem = "'fingerprint' appears twice";
      fingerprint = line.substr(12);
    } else {
      problem = "line " + std::to_string(line_no) + " is not a 'secret' or 'fingerprint' line";
    }
  }
  secret_bytes s{};
  if (problem.empty() && !saw_magic) problem = "empty or truncated";
  if (problem.empty() && (secret_hex.empty() || fingerprint.empty()))
    problem = std::string("truncated (missing '") + (secret_hex.empty() ? "secret" : "fingerprint") + "' line)";
  if (problem.empty() && !detail::from_hex(secret_hex, s.data(), s.size()))
    problem = "secret is not " + std::to_string(2 * s.size()) + " hexadecimal digits";
  std::string fingerprint_text(fingerprint);
  for (char& c : fingerprint_text) c = (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
  OPENSSL_cleanse(text.data(), text.size());
  if (!problem.empty()) {
    OPENSSL_cleanse(s.data(), s.size());
    throw error(errc::key_corrupt, "key file " + path + ": " + problem);
  }
  key k(s);
  OPENSSL_cleanse(s.data(), s.size());
  if (k.fingerprint() != fingerprint_text)
    throw error(errc::key_corrupt, "key file " + path +
                                       ": fingerprint does not match the secret (file corrupted or edited)");
  return k;
}

void key::save(const std::string& path) const {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int e = errno;
    throw error(e == EEXIST ? errc::invalid_argument : errc::io,
                "key file " + path + ": cannot create: " + std::strerror(e) +
                    (e == EEXIST ? " (refusing to overwrite an existing key)" : ""));
  }
  // umask can only clear bits, but be explicit: the secret is for the owner alone.
  ::fchmod(fd, 0600);
  std::string text = "# tracemark master key. Secret: keep mode 0600, never share or commit.\n";
  text += magic_line;
  text += "\nsecret " + detail::to_hex(secret_.data(), secret_.size()) + "\nfingerprint " + fingerprint_ + "\n";
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      const int e = errno;
      OPENSSL_cleanse(text.data(), text.size());
      ::close(fd);
      ::unlink(path.c_str());
      throw error(errc::io, "key file " + path + ": write failed: " + std::strerror(e));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  OPENSSL_cleanse(text.data(), text.size());
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(path.c_str());
    throw error(errc::io, "key file " + path + ": could not be written to disk");
  }
}

}  // namespace tracemark
