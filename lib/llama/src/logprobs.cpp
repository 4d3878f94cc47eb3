#include "logprobs.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <numeric>

namespace tracemark::llama_support {

void logprob_reader::read(const float* logits, int32_t n_vocab, int32_t k) {
  logits_ = logits;
  k_ = std::clamp(k, 0, n_vocab);
  // ln Z = max + ln sum exp(l - max), in double: a 150k-token vocabulary sums many small terms.
  const Eigen::Map<const Eigen::ArrayXf> l(logits, n_vocab);
  const double max = static_cast<double>(l.maxCoeff());
  log_z_ = max + std::log((l.cast<double>() - max).exp().sum());
  if (k_ == 0) return;
  if (order_.size() != static_cast<size_t>(n_vocab)) order_.resize(static_cast<size_t>(n_vocab));
  std::iota(order_.begin(), order_.end(), 0);
  std::partial_sort(order_.begin(), order_.begin() + k_, order_.end(), [logits](int32_t a, int32_t b) {
    const float x = logits[a], y = logits[b];
    return x > y || (x == y && a < b);
  });
}

position_logprobs logprob_reader::entry(int32_t sampled) const {
  position_logprobs p;
  p.sampled = {sampled, static_cast<double>(logits_[sampled]) - log_z_};
  p.top.reserve(static_cast<size_t>(k_));
  for (int32_t i = 0; i < k_; ++i) {
    const int32_t id = order_[static_cast<size_t>(i)];
    p.top.push_back({id, static_cast<double>(logits_[id]) - log_z_});
  }
  return p;
}

}  // namespace tracemark::llama_support
