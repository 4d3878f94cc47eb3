// The scheme registry and the public handle (scheme.h).
#include "tracemark/scheme.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "green_list_scheme.h"
#include "tracemark/error.h"

namespace tracemark {
namespace {

using detail::green_list_kind;

// One row per registered scheme: the public entry and its factory.
struct registry_entry {
  scheme_info info;
  green_list_kind kind;  // every family of format v1 is a green list
};

constexpr std::array<registry_entry, 4> registry = {{
    {{"kgw-lefthash", "kgw", "KGW green lists seeded by the previous h tokens (Kirchenbauer et al. 2023)", 1},
     green_list_kind::lefthash},
    {{"kgw-selfhash", "kgw", "KGW green lists seeded by the previous h tokens and the candidate itself", 1},
     green_list_kind::selfhash},
    {{"kgw-minhash", "kgw", "KGW green lists seeded by the smallest hash of the previous h tokens", 1},
     green_list_kind::minhash},
    {{"unigram", "unigram", "one fixed green list per key (Zhao et al. 2023), h = 0", 0}, green_list_kind::unigram},
}};

const registry_entry& lookup(std::string_view name) {
  for (const registry_entry& e : registry)
    if (e.info.name == name) return e;
  throw error(errc::invalid_argument,
              "unknown scheme '" + std::string(name) + "'; valid schemes: " + scheme_name_list());
}

const detail::scheme_impl::green_list_params& green_params(const detail::scheme_impl& impl) {
  const auto* p = impl.green_list();
  if (p == nullptr)
    throw error(errc::invalid_argument, "scheme " + impl.config().name + " has no green lists");
  return *p;
}

}  // namespace

std::string_view sampling_action_name(sampling_action a) noexcept {
  return a == sampling_action::bias_logits ? "bias_logits" : "choose_token";
}

std::span<const scheme_info> registered_schemes() noexcept {
  static const std::array<scheme_info, registry.size()> infos = [] {
    std::array<scheme_info, registry.size()> out{};
    for (size_t i = 0; i < registry.size(); ++i) out[i] = registry[i].info;
    return out;
  }();
  return infos;
}

const scheme_info* find_scheme(std::string_view name) noexcept {
  for (const scheme_info& i : registered_schemes())
    if (i.name == name) return &i;
  return nullptr;
}

std::string scheme_name_list() {
  std::string s;
  for (const scheme_info& i : registered_schemes()) s += (s.empty() ? "" : ", ") + std::string(i.name);
  return s;
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

std::string derivation_info(const scheme_config& c) {
  detail::validate_green_list_config(c, lookup(c.name).kind);
  char threshold_hex[17];
  std::snprintf(threshold_hex, sizeof threshold_hex, "%016llx",
                static_cast<unsigned long long>(green_threshold_for(c.gamma)));
  return "kgw;scheme=" + c.name + ";h=" + std::to_string(c.context_width) + ";T=" + threshold_hex +
         ";vocab=" + std::to_string(c.vocab_size) + ";account=" + std::to_string(c.account.size()) + ":" + c.account;
}

std::string scheme_description(const scheme_config& c) {
  std::ostringstream out;
  out << c.name << " h=" << c.context_width << " gamma=" << c.gamma << " vocab=" << c.vocab_size;
  if (!c.account.empty()) out << " account=" << c.account;
  return out.str();
}

scheme::scheme(const key& master, const scheme_config& config) {
  const registry_entry& e = lookup(config.name);
  detail::validate_green_list_config(config, e.kind);
  impl_ = std::make_shared<detail::green_list_scheme>(master, config, e.kind);
}

scheme::scheme(std::shared_ptr<const detail::scheme_impl> impl) : impl_(std::move(impl)) {
  if (!impl_) throw error(errc::invalid_argument, "scheme: null implementation");
}

const scheme_config& scheme::config() const noexcept { return impl_->config(); }
std::string_view scheme::family() const noexcept { return impl_->family(); }
sampling_action scheme::action() const noexcept { return impl_->action(); }
const null_distribution& scheme::null() const noexcept { return impl_->null(); }
const std::string& scheme::derivation_info() const noexcept { return impl_->derivation_info(); }

uint64_t scheme::seed(const int32_t* context, int32_t token) const noexcept {
  // seeds() reads the context before position h of a buffer holding context + token.
  int32_t buffer[max_context_width + 1];
  const int32_t h = context_width();
  for (int32_t i = 0; i < h; ++i) buffer[i] = context[i];
  buffer[h] = token;
  uint64_t s = 0;
  impl_->seeds(buffer, h, h + 1, &s);
  return s;
}

uint64_t scheme::context_id(const int32_t* context) const noexcept { return impl_->context_id(context); }

double scheme::score(uint64_t seed, int32_t token) const noexcept { return impl_->score(seed, token); }

bool scheme::green(uint64_t seed, int32_t token) const {
  const auto& p = green_params(*impl_);
  return detail::membership_prf(p.keys, seed, token) < p.threshold;
}

bool scheme::is_green(std::span<const int32_t> context, int32_t token) const {
  if (context.size() != static_cast<size_t>(context_width()))
    throw error(errc::invalid_argument, "context has " + std::to_string(context.size()) +
                                            " tokens; the scheme needs " + std::to_string(context_width()));
  return green(seed(context.data(), token), token);
}

uint64_t scheme::green_threshold() const { return green_params(*impl_).threshold; }

double scheme::gamma_effective() const {
  return static_cast<double>(std::ldexp(static_cast<long double>(green_threshold()), -64));
}

const prf_keys& scheme::keys() const { return green_params(*impl_).keys; }

}  // namespace tracemark
