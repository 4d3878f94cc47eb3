// Attribution: which API account's sub-key marked a text or a corpus (docs/EVIDENCE.md
// "Attribution"). Every candidate account's scheme (the same configuration under its own
// account id, docs/SPEC.md §2) tests the same tokens; the smallest p-value is corrected for
// the number of accounts tried with Bonferroni's bound, min(1, m p): under the null (no
// tried account marked the text) P[corrected p <= alpha] <= alpha whatever the dependence
// between the accounts' tests, and an account is named only when its own corrected p-value
// is at most alpha, so the chance of naming any wrong account stays below alpha too (the
// tests of accounts that did not mark the text are valid null tests).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tracemark/corpus.h"
#include "tracemark/detector.h"
#include "tracemark/export.h"
#include "tracemark/key.h"
#include "tracemark/scheme.h"

namespace tracemark {

struct account_test {
  std::string account;
  detection det;  // this account's detection of the text (for a corpus: det.test only)
};

struct attribution_result {
  std::vector<account_test> accounts;  // in the order tried
  size_t best = 0;                     // the account with the smallest p-value (first on ties)
  double log10_p_corrected = 0.0;      // min(0, best log10 p + log10 m)
  std::vector<size_t> matches;         // every account with m p <= alpha, in the order tried

  size_t n_tried() const noexcept { return accounts.size(); }
  // log10 of account i's Bonferroni-corrected p-value.
  double corrected_log10_p(size_t i) const noexcept;
  bool significant(double alpha) const noexcept;
};

// The accounts' schemes, derived once (HKDF per account).
// Thread safety: immutable after construction; attribute() may run on many threads.
class TRACEMARK_EXPORT attributor {
 public:
  // One scheme per account: `base` with its account replaced. `accounts` must be non-empty
  // and without repeats (error{invalid_argument}); "" is the master sub-key.
  attributor(const key& master, const scheme_config& base, std::vector<std::string> accounts);

  // Tests the text under every account; matches are the accounts significant at `alpha`
  // after the correction. Throws error{invalid_argument} unless 0 < alpha < 1.
  attribution_result attribute(std::span<const int32_t> tokens, int64_t n_prompt, double alpha,
                               const detect_options& options = {}) const;
  // From per-account tests computed elsewhere (stream detectors, corpus accumulators), in
  // the order of accounts().
  attribution_result combine(std::vector<account_test> tests, double alpha) const;

  const std::vector<std::string>& accounts() const noexcept { return accounts_; }
  const std::vector<scheme>& schemes() const noexcept { return schemes_; }

 private:
  std::vector<std::string> accounts_;
  std::vector<scheme> schemes_;
};

// A corpus tested under every account of an attributor: one corpus accumulator per account
// (each with its own deduplication set: memory grows with the number of accounts).
// Not thread-safe. Keeps a copy of the attributor (its schemes are shared handles).
class TRACEMARK_EXPORT corpus_attribution {
 public:
  corpus_attribution(const attributor& a, corpus_options options = {});
  void add(std::span<const int32_t> tokens, int64_t n_prompt, const std::string& id);
  void extend(std::span<const int32_t> tokens, int64_t n_context);
  void add_error();
  attribution_result result(double alpha) const;

 private:
  attributor attributor_;
  std::vector<corpus_accumulator> corpora_;
};

}  // namespace tracemark
