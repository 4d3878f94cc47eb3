// Reading, writing and parsing the small text files of tracemark (key_file_text.h).
#include "key_file_text.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "hex.h"
#include "tracemark/text.h"

namespace tracemark::detail {

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

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

// "'a', 'b' or 'c'".
std::string field_names(std::span<const key_file_field> fields) {
  std::string names;
  for (size_t i = 0; i < fields.size(); ++i)
    names += (i == 0 ? "" : i + 1 == fields.size() ? " or " : ", ") + ("'" + std::string(fields[i].name) + "'");
  return names;
}

}  // namespace

std::string tracemark_file_kind(std::string_view format_line) {
  if (format_line == master_key_format_line) return "a watermark master key file ('tracemark keygen')";
  if (format_line == signing_key_format_line) return "a signing (private) key file ('tracemark keygen --signing')";
  if (format_line == public_key_format_line) return "a public key file (.pub)";
  if (format_line == signature_format_line) return "a signature file (.sig)";
  return "";
}

bool is_fingerprint_text(std::string_view value, std::string_view prefix) {
  uint8_t fp[fingerprint_bytes];
  return value.starts_with(prefix) && from_hex(value.substr(prefix.size()), fp, sizeof fp);
}

std::string hex_problem(const std::string& at, std::string_view what, size_t n_bytes, size_t got_chars) {
  std::string s = at + ": " + std::string(what) + " is not " + std::to_string(2 * n_bytes) + " hexadecimal digits";
  if (got_chars != 2 * n_bytes) s += " (it has " + std::to_string(got_chars) + " characters)";
  return s;
}

bool has_control_character(std::string_view s) noexcept {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return true;
  }
  return false;
}

std::string mode_string(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::string lowercase_hex(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

std::string at_line(int line_no) { return "line " + std::to_string(line_no); }

std::string read_protected_file(const std::string& path, size_t max_bytes, const small_file& f) {
  const bool secret = !f.secret.empty();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw error(e == ENOENT ? f.missing : f.unreadable, f.label + ": " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode) || (secret && !S_ISREG(st.st_mode))) {
    ::close(fd);
    throw error(f.unreadable, f.label + ": not a regular file");
  }
  if (secret && (st.st_mode & 077) != 0) {
    ::close(fd);
    throw error(errc::key_permissions, f.label + ": mode " + mode_string(st.st_mode) +
                                           " lets group or others access the " + std::string(f.secret) +
                                           "; refusing it. Fix with: chmod 600 " + path);
  }
  std::string data;
  data.reserve(max_bytes + 1);  // no reallocation: no stray copies of a secret
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      OPENSSL_cleanse(data.data(), data.size());
      throw error(errc::io, f.label + ": read failed: " + std::strerror(e));
    }
    if (n == 0) break;
    if (data.size() + static_cast<size_t>(n) > max_bytes) {
      ::close(fd);
      OPENSSL_cleanse(buf, sizeof buf);
      OPENSSL_cleanse(data.data(), data.size());
      throw error(f.too_large, f.label + ": larger than " + std::to_string(max_bytes) + " bytes, not a tracemark " +
                                   std::string(f.format));
    }
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  OPENSSL_cleanse(buf, sizeof buf);
  return data;
}

void write_new_file(const std::string& path, std::string_view text, bool secret, const std::string& label,
                    std::string_view existing) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, secret ? 0600 : 0644);
  if (fd < 0) {
    const int e = errno;
    throw error(e == EEXIST ? errc::invalid_argument : errc::io,
                label + ": cannot create: " + std::strerror(e) +
                    (e == EEXIST ? " (refusing to overwrite an existing " + std::string(existing) + ")" : ""));
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

std::string parse_key_file(std::string_view text, const key_file_format& format, std::span<key_file_field> fields,
                           const std::function<std::string(const key_file_field&)>& on_field) {
  if (text.starts_with(utf8_bom)) return "line 1 starts with a UTF-8 byte order mark; save the file without one";
  bool saw_format = false;
  int line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    const bool terminated = eol != std::string_view::npos;
    if (!terminated) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    const std::string at = at_line(++line_no);
    // eol = LF / CR LF. A CR anywhere else (also at the end of an unterminated last line)
    // is a control character.
    if (terminated && !line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first_invalid_utf8(line) != std::string_view::npos) return at + " is not valid UTF-8";
    if (has_control_character(line)) return at + " contains a control character (only tab is allowed, in comments)";
    if (line.empty() || line[0] == '#') continue;  // blank line or comment
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos) return at + " holds only spaces or tabs (a blank line must be empty)";
    if (line[first] == '#') return at + " is an indented comment ('#' must be the first character)";
    if (line.back() == ' ' || line.back() == '\t') return at + " ends in a space or tab";
    if (!saw_format) {
      if (line != format.format_line) {
        const std::string other = format.recognise != nullptr ? format.recognise(line) : "";
        if (!other.empty()) return "this is " + other + ", not " + std::string(format.expected);
        return at + " is not '" + std::string(format.format_line) + "'; not " + std::string(format.expected);
      }
      saw_format = true;
      continue;
    }
    const size_t space = line.find(' ');
    key_file_field* match = nullptr;
    if (space != std::string_view::npos)
      for (key_file_field& f : fields)
        if (line.substr(0, space) == f.name) match = &f;
    if (match == nullptr) return at + " is not a " + field_names(fields) + " line (field name, one space, value)";
    if (match->line != 0)
      return at + ": '" + std::string(match->name) + "' appears twice" +
             (format.name_first_line_of_duplicates ? " (first on line " + std::to_string(match->line) + ")" : "");
    match->line = line_no;
    match->value = line.substr(space + 1);
    if (on_field) {
      std::string problem = on_field(*match);
      if (!problem.empty()) return problem;
    }
  }
  if (!saw_format) return "empty or truncated (no '" + std::string(format.format_line) + "' line)";
  for (const key_file_field& f : fields)
    if (f.line == 0) return "truncated (missing '" + std::string(f.name) + "' line)";
  return "";
}

}  // namespace tracemark::detail
