// HKDF-SHA256 (RFC 5869) through OpenSSL 3's EVP_KDF.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tracemark::detail {

// Fills out[0..out_len) with HKDF-SHA256(ikm, salt, info). Throws error{crypto} on failure.
void hkdf_sha256(const uint8_t* ikm, size_t ikm_len, std::string_view salt, std::string_view info,
                 uint8_t* out, size_t out_len);

// The salt of every format-v1 derivation (docs/SPEC.md §2).
inline constexpr std::string_view format_v1_salt = "tracemark/v1";

}  // namespace tracemark::detail
