// Detached signature files (.sig, tracemark/signing.h): their text, parsing and atomic
// writing, in the line grammar of key files (key_file_text.h). Signing and verifying are in
// signing.cpp.
#include "tracemark/signing.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "hex.h"
#include "key_file_text.h"
#include "tracemark/error.h"

namespace tracemark {
namespace {

constexpr std::string_view algorithm_name = "ed25519";

std::string signature_label(const std::string& path) { return "signature file " + path; }

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

std::string record_signature::format() const {
  return std::string(detail::signature_format_line) + "\nalgorithm " + std::string(algorithm_name) + "\nsigner " +
         signer + "\nrecord-bytes " + std::to_string(record_bytes) + "\nrecord-sha256 " +
         detail::to_hex(record_sha256.data(), record_sha256.size()) + "\nsignature " +
         detail::to_hex(signature.data(), signature.size()) + "\n";
}

std::string record_signature::signed_message() const {
  std::string m(signed_record_domain);
  for (int i = 0; i < 8; ++i) m.push_back(static_cast<char>((record_bytes >> (8 * i)) & 0xFF));
  m.append(reinterpret_cast<const char*>(record_sha256.data()), record_sha256.size());
  return m;
}

record_signature record_signature::parse(std::string_view text, const std::string& source) {
  detail::key_file_field fields[] = {{"algorithm"}, {"signer"}, {"record-bytes"}, {"record-sha256"}, {"signature"}};
  const detail::key_file_format format{.format_line = detail::signature_format_line,
                                       .expected = "a tracemark signature file",
                                       .recognise = detail::tracemark_file_kind};
  std::string problem = detail::parse_key_file(text, format, fields);
  record_signature s;
  const auto at = [](const detail::key_file_field& f) { return detail::at_line(f.line); };
  if (problem.empty() && fields[0].value != algorithm_name)
    problem = at(fields[0]) + ": algorithm " + quoted(fields[0].value) + " is not supported (only ed25519)";
  if (problem.empty() && !detail::is_fingerprint_text(fields[1].value, detail::signing_key_fingerprint_prefix))
    problem = at(fields[1]) + ": the signer is not 'tmks1:' and 16 hexadecimal digits";
  if (problem.empty() && !parse_decimal(fields[2].value, s.record_bytes))
    problem = at(fields[2]) + ": record-bytes is not a decimal number of bytes";
  if (problem.empty() && !detail::from_hex(fields[3].value, s.record_sha256.data(), s.record_sha256.size()))
    problem = detail::hex_problem(at(fields[3]), "record-sha256", s.record_sha256.size(), fields[3].value.size());
  if (problem.empty() && !detail::from_hex(fields[4].value, s.signature.data(), s.signature.size()))
    problem = detail::hex_problem(at(fields[4]), "the signature", s.signature.size(), fields[4].value.size());
  if (!problem.empty()) throw error(errc::invalid_argument, source + ": " + problem);
  s.signer = detail::lowercase_hex(fields[1].value);
  return s;
}

record_signature record_signature::load(const std::string& path) {
  const std::string label = signature_label(path);
  // Not a key: a file that cannot be read is an I/O error, one too large a malformed one.
  const detail::small_file f{.label = label,
                             .format = "signature file",
                             .secret = "",
                             .missing = errc::io,
                             .unreadable = errc::io,
                             .too_large = errc::invalid_argument};
  const std::string text = detail::read_protected_file(path, detail::max_key_file_bytes, f);
  return parse(text, label);
}

void write_signature(const record_signature& signature, const std::string& path) {
  static std::atomic<unsigned> counter{0};
  const std::string label = signature_label(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  detail::write_new_file(tmp, signature.format(), false, label + " (temporary " + tmp + ")");
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw error(errc::io, label + ": cannot replace: " + std::strerror(e));
  }
}

}  // namespace tracemark
