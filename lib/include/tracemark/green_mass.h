// The green-mass statistic of the black-box audit with log-probabilities
// (docs/AUDIT_DESIGN.md §9): how much of the suspect's returned next-token probability
// lies on green tokens, summed over distinct contexts, with a p-value that is a proven
// upper bound under the null hypothesis.
//
// At each distinct context c the suspect returns its top-K tokens v with probabilities
// p_v; the statistic is S = sum_c sum_v p_v G(c, v), G the scheme's green indicator. Under
// the null (the suspect's distributions do not depend on the key, the PRF is ideal, and
// every (c, v) is a distinct PRF input) the G(c, v) are independent Bernoulli(gamma)
// given the probabilities, so S is a weighted sum of independent Bernoullis. Its tail is
// bounded with the exact moment generating function (Chernoff 1952; Hoeffding 1963, §2):
//
//   ln P[S >= s] <= min_{lambda >= 0}  -lambda s + sum_i ln(1 - gamma + gamma e^{lambda p_i}).
//
// The bound holds at every lambda >= 0, so the value reported is valid even where the
// minimisation stops early; it is only looser. It is conservative everywhere (the p-value
// is super-uniform) and stays meaningful far below 1e-308 (log space).
//
// Thread safety: values; const members may be called from any number of threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tracemark/export.h"

namespace tracemark {

struct green_mass_result {
  int64_t contexts = 0;     // distinct contexts whose returned distribution was scored
  int64_t terms = 0;        // (context, token) probabilities with p > 0 in the sum
  double mass = 0.0;        // sum of all the probabilities (at most `contexts`)
  double green_mass = 0.0;  // S: the sum of the green tokens' probabilities
  double expected = 0.0;    // gamma * mass: E[S] under the null
  double variance = 0.0;    // gamma (1 - gamma) sum p^2: Var[S] under the null
  double z = 0.0;           // (S - expected) / sqrt(variance); informative only (0 when variance is 0)
  double log10_p = 0.0;     // log10 of the Chernoff bound on P[S >= observed] under the null; <= 0
  double lambda = 0.0;      // the tilt at which the bound was evaluated
};

// ln of min over lambda >= 0 of the Chernoff bound on P[sum_i w_i B_i >= s], B_i
// independent Bernoulli(gamma), w_i >= 0 (zero weights are ignored): 0 when s <= gamma *
// sum w, -infinity when s > sum w. Throws error{invalid_argument} unless 0 < gamma < 1
// and every weight is finite and >= 0. Written out for tests and for people checking a
// record by hand; green_mass_test uses the same minimisation.
TRACEMARK_EXPORT double chernoff_ln_tail_bound(std::span<const double> weights, double gamma, double s);

// Accumulates (probability, green) terms context by context. Not thread-safe (one writer).
class TRACEMARK_EXPORT green_mass_test {
 public:
  // gamma: the exact null green probability (scheme::gamma_effective()). Throws
  // error{invalid_argument} unless 0 < gamma < 1.
  explicit green_mass_test(double gamma);

  // One token of the current context's distribution: p in [0, 1] (checked: error{invalid_argument}).
  void add(double p, bool green);
  // Closes the current context (counts it).
  void end_context() noexcept { ++contexts_; }

  // The test over everything added so far.
  green_mass_result result() const { return result(terms_.size(), contexts_); }
  // The test over the first `n_terms` terms, which made up `n_contexts` contexts (curves).
  green_mass_result result(size_t n_terms, int64_t n_contexts) const;

  size_t n_terms() const noexcept { return terms_.size(); }
  int64_t n_contexts() const noexcept { return contexts_; }
  double gamma() const noexcept { return gamma_; }

 private:
  double gamma_;
  std::vector<double> terms_;  // +p for a green token, -p for a red one (p > 0)
  int64_t contexts_ = 0;
};

}  // namespace tracemark
