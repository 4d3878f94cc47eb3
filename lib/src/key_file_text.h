// The small text files of tracemark: master keys (key.cpp), signing keys, public keys and
// signatures (signing.cpp, signature_file.cpp). One secure reader and writer for them and
// one parser of the line grammar they share (docs/SPEC.md §1). Internal to the library.
//
// Nothing here puts the contents of a file into a message: problems name the line
// number and what is wrong (a malformed line may hold a secret).
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "tracemark/error.h"

namespace tracemark::detail {

// The format lines of the files (docs/SPEC.md §1, tracemark/signing.h).
inline constexpr std::string_view master_key_format_line = "tracemark-key 1";
inline constexpr std::string_view signing_key_format_line = "tracemark-signing-key 1";
inline constexpr std::string_view public_key_format_line = "tracemark-public-key 1";
inline constexpr std::string_view signature_format_line = "tracemark-signature 1";

// Every one of these files is at most this long (SPEC §1.1).
inline constexpr size_t max_key_file_bytes = 4096;

// Fingerprints: a prefix and the hex of fingerprint_bytes bytes.
inline constexpr std::string_view master_key_fingerprint_prefix = "tmk1:";
inline constexpr std::string_view signing_key_fingerprint_prefix = "tmks1:";
inline constexpr size_t fingerprint_bytes = 8;

// What `format_line` makes a file, e.g. "a public key file (.pub)", or "" when it is none
// of tracemark's formats: the `recognise` of the signing key, public key and signature
// formats (key_file_format).
std::string tracemark_file_kind(std::string_view format_line);

// Whether `value` is `prefix` and 2 * fingerprint_bytes hex digits (either case).
bool is_fingerprint_text(std::string_view value, std::string_view prefix);

// "<at>: <what> is not 64 hexadecimal digits", and " (it has 63 characters)" when the
// length is wrong: the problem of a hex field that should hold `n_bytes`.
std::string hex_problem(const std::string& at, std::string_view what, size_t n_bytes, size_t got_chars);

// Whether `s` holds a C0 control other than tab, or DEL: never part of a key file (CR
// only as part of CR LF, which the parser removes).
bool has_control_character(std::string_view s) noexcept;

// "0644": the permission bits of `mode`, for messages.
std::string mode_string(mode_t mode);

// `s` with the hex digits A-F lowered (fingerprints may be written in either case).
std::string lowercase_hex(std::string_view s);

// "line 7", the start of the messages about one line.
std::string at_line(int line_no);

// How a small file is named in messages, and which error each failure to read it raises.
struct small_file {
  std::string label;        // starts every message: "key file <path>", "signature file <path>"
  std::string_view format;  // "larger than N bytes, not a tracemark <format>": "key file"
  // What access by group or others would expose ("secret", "private key"), or "" for a
  // file without a secret. A file holding a secret must be a regular file whose mode
  // grants group and others nothing ((mode & 077) == 0, else errc::key_permissions); any
  // other file may be anything but a directory.
  std::string_view secret;
  errc missing = errc::key_missing;     // open fails with ENOENT
  errc unreadable = errc::key_corrupt;  // open fails otherwise, or not a regular file
  errc too_large = errc::key_corrupt;   // more than max_bytes
};

// Reads the file at `path`, at most `max_bytes`, checking the opened file (fstat), so the
// file checked is the file read. Throws error (codes as in `f`; errc::io when a read
// fails) with messages "<label>: <problem>". Every buffer that held the text is wiped,
// except the string returned: the caller wipes it (OPENSSL_cleanse) when it holds a secret.
std::string read_protected_file(const std::string& path, size_t max_bytes, const small_file& f);

// Creates `path` (O_EXCL) holding `text`: mode 0600 exactly when `secret`, else 0644 less
// the umask. On failure nothing is left behind; throws error{invalid_argument} when `path`
// exists ("<label>: cannot create: File exists (refusing to overwrite an existing
// <existing>)"), error{io} otherwise. The caller wipes `text` when it holds a secret.
void write_new_file(const std::string& path, std::string_view text, bool secret, const std::string& label,
                    std::string_view existing = "file");

// One field line ("name value") of a file: the caller names it, the parser records where
// it was and its value (a view into the parsed text).
struct key_file_field {
  std::string_view name;
  std::string_view value{};
  int line = 0;  // 0: not seen
};

// A file format of the line grammar: its format line and how messages name it.
struct key_file_format {
  std::string_view format_line;  // "tracemark-key 1"
  // What the file should be, e.g. "a tracemark v1 key file": a wrong format line is
  // "line N is not '<format_line>'; not <expected>".
  std::string_view expected;
  // When set: what another format line makes the file (e.g. "a public key file (.pub)"),
  // or "" when it is none of tracemark's; then the problem is "this is <that>, not <expected>".
  std::string (*recognise)(std::string_view format_line) = nullptr;
  // A field given twice: "line N: '<name>' appears twice", with " (first on line M)" when set.
  bool name_first_line_of_duplicates = true;
};

// Parses `text` in place by SPEC §1.1: lines end in LF or CR LF (the last may lack it);
// a file starting with a UTF-8 byte order mark, a line of invalid UTF-8 or holding a
// control character (tab only in comments), a line of only blanks, an indented comment
// and a line ending in a blank are refused; empty lines and '#' comments are skipped.
// The first other line must be the format line; every later one is a field line: the
// name up to the first space must be one of `fields`, each at most once. `on_field`, when
// given, sees each field as it is found and may return a problem, which ends the parse.
// Returns the first problem (naming the line), or "" when the format line and every field
// were found.
std::string parse_key_file(std::string_view text, const key_file_format& format, std::span<key_file_field> fields,
                           const std::function<std::string(const key_file_field&)>& on_field = {});

}  // namespace tracemark::detail
