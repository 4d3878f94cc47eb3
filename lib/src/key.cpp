// Key files, docs/SPEC.md §1: the reader implements exactly the grammar given there.
#include "tracemark/key.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hex.h"
#include "hkdf.h"
#include "key_file_text.h"
#include "tracemark/error.h"

namespace tracemark {
namespace {

std::string compute_fingerprint(const key::secret_bytes& secret) {
  uint8_t fp[detail::fingerprint_bytes];
  detail::hkdf_sha256(secret.data(), secret.size(), detail::format_v1_salt, "fingerprint", fp,
                      sizeof fp);
  return std::string(detail::master_key_fingerprint_prefix) + detail::to_hex(fp, sizeof fp);
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
  const std::string label = "key file " + path;
  std::string text = detail::read_protected_file(path, detail::max_key_file_bytes, {label, "key file", "secret"});
  // Parsed in place: the secret is never copied out of `text` except into `s`.
  secret_bytes s{};
  detail::key_file_field fields[] = {{"secret"}, {"fingerprint"}};
  const detail::key_file_format format{.format_line = detail::master_key_format_line,
                                       .expected = "a tracemark v1 key file",
                                       .name_first_line_of_duplicates = false};
  std::string problem = detail::parse_key_file(text, format, fields, [&](const detail::key_file_field& f) {
    if (f.name == "secret" && !detail::from_hex(f.value, s.data(), s.size()))
      return detail::at_line(f.line) + ": the secret is not " + std::to_string(2 * s.size()) + " hexadecimal digits";
    if (f.name == "fingerprint" && !detail::is_fingerprint_text(f.value, detail::master_key_fingerprint_prefix))
      return detail::at_line(f.line) + ": the fingerprint is not 'tmk1:' and 16 hexadecimal digits";
    return std::string();
  });
  // The fingerprint is public; its hex digits may be in either case.
  const std::string fingerprint_text = detail::lowercase_hex(fields[1].value);
  OPENSSL_cleanse(text.data(), text.size());
  if (!problem.empty()) {
    OPENSSL_cleanse(s.data(), s.size());
    throw error(errc::key_corrupt, label + ": " + problem);
  }
  key k(s);
  OPENSSL_cleanse(s.data(), s.size());
  if (k.fingerprint() != fingerprint_text)
    throw error(errc::key_corrupt, label + ": fingerprint does not match the secret (file corrupted or edited)");
  return k;
}

void key::save(const std::string& path) const {
  std::string text = "# tracemark master key. Secret: keep mode 0600, never share or commit.\n";
  text += detail::master_key_format_line;
  text += "\nsecret " + detail::to_hex(secret_.data(), secret_.size()) + "\nfingerprint " + fingerprint_ + "\n";
  try {
    detail::write_new_file(path, text, true, "key file " + path, "key");
  } catch (...) {
    OPENSSL_cleanse(text.data(), text.size());
    throw;
  }
  OPENSSL_cleanse(text.data(), text.size());
}

}  // namespace tracemark
