/* The tracemark watermark as a llama.cpp sampler (struct llama_sampler_i), usable from
 * C and C++. Part of the optional target tracemark::llama.
 *
 * Where it goes in a chain: right after the samplers that rewrite logits for
 * correctness (logit bias, grammar, repetition penalties) and BEFORE truncation and
 * temperature (top-k, top-p, min-p, typical, temp) and the final dist/greedy sampler:
 *
 *   chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
 *   llama_sampler_chain_add(chain, llama_sampler_init_penalties(...));      // optional
 *   llama_sampler_chain_add(chain, tmk_llama_sampler_init(wm));              // <- tracemark
 *   llama_sampler_chain_add(chain, llama_sampler_init_top_k(40));
 *   llama_sampler_chain_add(chain, llama_sampler_init_top_p(0.95f, 1));
 *   llama_sampler_chain_add(chain, llama_sampler_init_temp(0.8f));
 *   llama_sampler_chain_add(chain, llama_sampler_init_dist(seed));
 *
 * Why: the watermark is a logit bias (Kirchenbauer et al. 2023, Alg. 2: bias, then
 * sample), like a logits processor that runs before Hugging Face's warpers. Truncating
 * first would cut green tokens the bias is meant to promote, and the pruning bound of
 * docs/SPEC.md §5.2 is stated on the logits the bias is added to. Temperature after the
 * bias scales it to delta/T, as in the reference implementation. The cost is one
 * SipHash finalisation per candidate within the pruning margin of the best logit.
 *
 * Context: the sampler's accept() appends each sampled token to its context (the chain
 * calls it). To let the first generated tokens use the prompt as context, call
 * llama_sampler_accept(smpl, t) on THIS sampler (not the chain) for the prompt tokens.
 * reset() starts a new text.
 */
#ifndef TRACEMARK_LLAMA_SAMPLER_H
#define TRACEMARK_LLAMA_SAMPLER_H

#include "tracemark/tracemark.h"

#ifdef __cplusplus
extern "C" {
#endif

struct llama_sampler;

/* A new watermark sampler over `wm`, which is borrowed: it must outlive the sampler
 * (and every clone). Free with llama_sampler_free unless it was added to a chain (the
 * chain then owns it). Returns NULL if wm is NULL or memory runs out. Per token it
 * allocates nothing. One sampler per sequence: not for concurrent use. */
TRACEMARK_EXPORT struct llama_sampler* tmk_llama_sampler_init(const tmk_watermarker* wm);

#ifdef __cplusplus
}

namespace tracemark {
class watermarker;
/* C++ form: the same sampler over a borrowed watermarker. Throws tracemark::error. */
TRACEMARK_EXPORT struct llama_sampler* make_llama_watermark_sampler(const watermarker& wm);
}  // namespace tracemark
#endif

#endif
