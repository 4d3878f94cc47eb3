// Key files, docs/SPEC.md §1: the reader implements exactly the grammar given there.
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
#include "tracemark/text.h"

namespace tracemark {
namespace {

constexpr std::string_view magic_line = "tracemark-key 1";
constexpr size_t max_key_file_bytes = 4096;
constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

// C0 controls other than tab, and DEL: never part of a key file (CR only as part of CR LF).
bool has_control_character(std::string_view s) noexcept {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return true;
  }
  return false;
}

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
  // Parsed in place with string_views: the secret is never copied out of `text` except
  // into `s`. Messages name the line number and the problem only: a malformed line may
  // hold the secret.
  secret_bytes s{};
  std::string_view fingerprint;
  bool saw_magic = false, saw_secret = false, saw_fingerprint = false;
  int line_no = 0;
  std::string problem;
  if (text.starts_with(utf8_bom))
    problem = "line 1 starts with a UTF-8 byte order mark; save the file without one";
  for (size_t pos = 0; pos < text.size() && problem.empty();) {
    size_t eol = text.find('\n', pos);
    const bool terminated = eol != std::string::npos;
    if (!terminated) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    const std::string at = "line " + std::to_string(line_no);
    // eol = LF / CR LF. A CR anywhere else (also at the end of an unterminated last
    // line) is a control character.
    if (terminated && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first_invalid_utf8(line) != std::string_view::npos) {
      problem = at + " is not valid UTF-8";
    } else if (has_control_character(line)) {
      problem = at + " contains a control character (only tab is allowed, in comments)";
    } else if (line.empty() || line[0] == '#') {
      continue;  // blank line or comment
    } else if (line.find_first_not_of(" \t") == std::string_view::npos) {
      problem = at + " holds only spaces or tabs (a blank line must be empty)";
    } else if (line[line.find_first_not_of(" \t")] == '#') {
      problem = at + " is an indented comment ('#' must be the first character)";
    } else if (line.back() == ' ' || line.back() == '\t') {
      problem = at + " ends in a space or tab";
    } else if (!saw_magic) {
      if (line != magic_line)
        problem = at + " is not '" + std::string(magic_line) + "'; not a tracemark v1 key file";
      saw_magic = true;
    } else if (line.starts_with("secret ")) {
      if (saw_secret)
        problem = at + ": 'secret' appears twice";
      else if (!detail::from_hex(line.substr(7), s.data(), s.size()))
        problem = at + ": the secret is not " + std::to_string(2 * s.size()) + " hexadecimal digits";
      saw_secret = true;
    } else if (line.starts_with("fingerprint ")) {
      uint8_t fp[8];
      fingerprint = line.substr(12);
      if (saw_fingerprint)
        problem = at + ": 'fingerprint' appears twice";
      else if (!fingerprint.starts_with("tmk1:") || !detail::from_hex(fingerprint.substr(5), fp, sizeof fp))
        problem = at + ": the fingerprint is not 'tmk1:' and 16 hexadecimal digits";
      saw_fingerprint = true;
    } else {
      problem = at + " is not a 'secret' or 'fingerprint' line (field name, one space, value)";
    }
  }
  if (problem.empty() && !saw_magic) problem = "empty or truncated (no '" + std::string(magic_line) + "' line)";
  if (problem.empty() && (!saw_secret || !saw_fingerprint))
    problem = std::string("truncated (missing '") + (saw_secret ? "fingerprint" : "secret") + "' line)";
  // The fingerprint is public; its hex digits may be in either case.
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
