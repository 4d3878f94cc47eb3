#include "hkdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>

#include "tracemark/error.h"

namespace tracemark::detail {

void hkdf_sha256(const uint8_t* ikm, size_t ikm_len, std::string_view salt, std::string_view info,
                 uint8_t* out, size_t out_len) {
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr),
                                                         &EVP_KDF_free);
  if (!kdf) throw error(errc::crypto, "OpenSSL: HKDF is not available");
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                 &EVP_KDF_CTX_free);
  if (!ctx) throw error(errc::crypto, "OpenSSL: cannot create an HKDF context");

  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm), ikm_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  if (EVP_KDF_derive(ctx.get(), out, out_len, params) != 1)
    throw error(errc::crypto, "OpenSSL: HKDF-SHA256 derivation failed");
}

}  // namespace tracemark::detail
