// The log-probabilities `generate` returns (engine.h, generation_params::logprobs): the
// log-softmax of one position's raw logits and its k most likely tokens. Eigen does the
// vocabulary-sized arithmetic; the index buffer lives in the reader, so a generation
// allocates nothing per token here beyond the result's own vector.
#pragma once
#include <cstdint>
#include <vector>

#include "tracemark/llama/engine.h"

namespace tracemark::llama_support {

// Not thread-safe: one per session.
class logprob_reader {
 public:
  // Reads the logits of one position (n_vocab floats, as llama_get_logits_ith returns
  // them): their log-sum-exp, and the k most likely ids (0 <= k <= n_vocab).
  void read(const float* logits, int32_t n_vocab, int32_t k);
  // The sampled token's log-probability and the top k of the last read().
  position_logprobs entry(int32_t sampled) const;

 private:
  const float* logits_ = nullptr;
  double log_z_ = 0.0;            // ln sum_v exp(logit_v)
  std::vector<int32_t> order_;    // ids; the first k_ are the most likely, in order
  int32_t k_ = 0;
};

}  // namespace tracemark::llama_support
