// Attribution over accounts (attribution.h).
#include "tracemark/attribution.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "tracemark/error.h"

namespace tracemark {

double attribution_result::corrected_log10_p(size_t i) const noexcept {
  const double m = static_cast<double>(accounts.size());
  return std::fmin(0.0, accounts[i].det.test.log10_p + std::log10(m));
}

bool attribution_result::significant(double alpha) const noexcept {
  if (accounts.empty()) return false;
  test_result corrected = accounts[best].det.test;  // the one decision rule, on the corrected p-value
  corrected.log10_p = log10_p_corrected;
  return corrected.significant(alpha);
}

attributor::attributor(const key& master, const scheme_config& base, std::vector<std::string> accounts)
    : accounts_(std::move(accounts)) {
  if (accounts_.empty()) throw error(errc::invalid_argument, "attribution needs at least one account");
  std::set<std::string> seen;
  for (const std::string& a : accounts_) {
    if (!seen.insert(a).second) throw error(errc::invalid_argument, "account '" + a + "' is listed twice");
    scheme_config c = base;
    c.account = a;
    schemes_.emplace_back(master, c);
  }
}

attribution_result attributor::combine(std::vector<account_test> tests, double alpha) const {
  if (!(alpha > 0.0 && alpha < 1.0)) throw error(errc::invalid_argument, "alpha must lie strictly between 0 and 1");
  attribution_result r;
  r.accounts = std::move(tests);
  for (size_t i = 1; i < r.accounts.size(); ++i)
    if (r.accounts[i].det.test.log10_p < r.accounts[r.best].det.test.log10_p) r.best = i;
  if (r.accounts.empty()) return r;
  r.log10_p_corrected = r.corrected_log10_p(r.best);
  for (size_t i = 0; i < r.accounts.size(); ++i) {
    test_result corrected = r.accounts[i].det.test;
    corrected.log10_p = r.corrected_log10_p(i);
    if (corrected.significant(alpha)) r.matches.push_back(i);
  }
  return r;
}

attribution_result attributor::attribute(std::span<const int32_t> tokens, int64_t n_prompt, double alpha,
                                         const detect_options& options) const {
  std::vector<account_test> tests;
  tests.reserve(schemes_.size());
  for (size_t i = 0; i < schemes_.size(); ++i)
    tests.push_back({accounts_[i], detector(schemes_[i], options).score(tokens, n_prompt)});
  return combine(std::move(tests), alpha);
}

corpus_attribution::corpus_attribution(const attributor& a, corpus_options options) : attributor_(a) {
  options.n_top_documents = 0;  // only the corpus tests are needed
  for (const scheme& s : attributor_.schemes()) corpora_.emplace_back(s, options);
}

void corpus_attribution::add(std::span<const int32_t> tokens, int64_t n_prompt, const std::string& id) {
  for (corpus_accumulator& c : corpora_) c.add(tokens, n_prompt, id);
}

void corpus_attribution::extend(std::span<const int32_t> tokens, int64_t n_context) {
  for (corpus_accumulator& c : corpora_) c.extend(tokens, n_context);
}

void corpus_attribution::add_error() {
  for (corpus_accumulator& c : corpora_) c.add_error();
}

attribution_result corpus_attribution::result(double alpha) const {
  std::vector<account_test> tests;
  for (size_t i = 0; i < corpora_.size(); ++i) {
    account_test t;
    t.account = attributor_.accounts()[i];
    const corpus_verdict v = corpora_[i].verdict();
    t.det.n_tokens = v.n_tokens;
    t.det.test = v.test;
    tests.push_back(std::move(t));
  }
  return attributor_.combine(std::move(tests), alpha);
}

}  // namespace tracemark
