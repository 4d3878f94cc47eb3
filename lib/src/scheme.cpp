#include "tracemark/scheme.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "hex.h"
#include "hkdf.h"
#include "scheme_prf.h"
#include "siphash.h"
#include "tracemark/error.h"

namespace tracemark {

std::string_view scheme_kind_name(scheme_kind kind) noexcept {
  switch (kind) {
    case scheme_kind::lefthash: return "kgw-lefthash";
    case scheme_kind::selfhash: return "kgw-selfhash";
    case scheme_kind::minhash: return "kgw-minhash";
    case scheme_kind::unigram: return "unigram";
  }
  return "unknown";
}

scheme_kind parse_scheme_kind(std::string_view name) {
  for (auto k : {scheme_kind::lefthash, scheme_kind::selfhash, scheme_kind::minhash, scheme_kind::unigram})
    if (name == scheme_kind_name(k)) return k;
  throw error(errc::invalid_argument, "unknown scheme '" + std::string(name) +
                                          "'; valid schemes: kgw-lefthash, kgw-selfhash, kgw-minhash, unigram");
}

uint64_t green_threshold_for(double gamma) {
  if (!(gamma > 0.0 && gamma < 1.0))
    throw error(errc::invalid_argument,
                "gamma must lie strictly between 0 and 1 (got " + std::to_string(gamma) + ")");
  // gamma * 2^64 is exact in binary floating point; floor then fits in 64 bits.
  const long double scaled = std::ldexp(static_cast<long double>(gamma), 64);
  const uint64_t t = static_cast<uint64_t>(std::floor(scaled));
  if (t == 0)
    throw error(errc::invalid_argument, "gamma must be at least 2^-64 (got " + std::to_string(gamma) + ")");
  return t;
}

static void validate(const scheme_config& c);

std::string derivation_info(const scheme_config& c) {
  validate(c);
  char threshold_hex[17];
  std::snprintf(threshold_hex, sizeof threshold_hex, "%016llx",
                static_cast<unsigned long long>(green_threshold_for(c.gamma)));
  return "kgw;scheme=" + std::string(scheme_kind_name(c.kind)) + ";h=" + std::to_string(c.context_width) +
         ";T=" + threshold_hex + ";vocab=" + std::to_string(c.vocab_size) +
         ";account=" + std::to_string(c.account.size()) + ":" + c.account;
}

static void validate(const scheme_config& c) {
  green_threshold_for(c.gamma);
  if (c.vocab_size <= 0)
    throw error(errc::invalid_argument, "vocab_size must be positive (got " + std::to_string(c.vocab_size) + ")");
  if (c.kind == scheme_kind::unigram) {
    if (c.context_width != 0)
      throw error(errc::invalid_argument, "the unigram scheme has context width 0 (got " +
                                              std::to_string(c.context_width) + ")");
  } else if (c.context_width < 1 || c.context_width > scheme::max_context_width) {
    throw error(errc::invalid_argument, std::string(scheme_kind_name(c.kind)) +
                                            " needs a context width between 1 and " +
                                            std::to_string(scheme::max_context_width) + " (got " +
                                            std::to_string(c.context_width) + ")");
  }
}

scheme::scheme(const key& master, const scheme_config& config) : config_(config) {
  validate(config_);
  threshold_ = green_threshold_for(config_.gamma);
  info_ = tracemark::derivation_info(config_);
  uint8_t okm[32];
  detail::hkdf_sha256(master.secret().data(), master.secret().size(), detail::format_v1_salt, info_, okm,
                      sizeof okm);
  keys_.context_k0 = detail::load_le64(okm);
  keys_.context_k1 = detail::load_le64(okm + 8);
  keys_.green_k0 = detail::load_le64(okm + 16);
  keys_.green_k1 = detail::load_le64(okm + 24);
  std::fill(std::begin(okm), std::end(okm), uint8_t{0});
}

double scheme::gamma_effective() const noexcept {
  return static_cast<double>(std::ldexp(static_cast<long double>(threshold_), -64));
}

uint64_t scheme::seed(const int32_t* context, int32_t token) const noexcept {
  return detail::scheme_seed(config_.kind, keys_, context, config_.context_width, token);
}

bool scheme::green(uint64_t s, int32_t token) const noexcept {
  return detail::membership_prf(keys_, s, token) < threshold_;
}

bool scheme::is_green(std::span<const int32_t> context, int32_t token) const {
  if (context.size() != static_cast<size_t>(config_.context_width))
    throw error(errc::invalid_argument, "context has " + std::to_string(context.size()) +
                                            " tokens; the scheme needs " + std::to_string(config_.context_width));
  return green(seed(context.data(), token), token);
}

}  // namespace tracemark
