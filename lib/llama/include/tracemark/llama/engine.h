// Text generation with a GGUF model through llama.cpp, optionally watermarked.
// Part of the optional target tracemark::llama; includes no llama.cpp header.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tracemark/llama/tokenizer.h"
#include "tracemark/watermarker.h"

namespace tracemark {

struct generation_params {
  int32_t max_tokens = 128;   // generated tokens at most
  float temperature = 1.0f;   // 0 = greedy
  int32_t top_k = 0;          // 0 = off
  float top_p = 1.0f;         // 1 = off
  uint32_t seed = 0;          // sampling seed (llama_sampler_init_dist)
  bool stop_at_bos = true;    // some models (stories260K) emit BOS, not EOS, between texts
  // -1: no log-probabilities. k >= 0 (at most the vocabulary size): for every generated
  // token, its log-probability and those of the k most likely tokens, all under the model's
  // own next-token distribution: the log-softmax of the raw logits at temperature 1, before
  // the watermark, top-k, top-p and temperature (docs/SERVER.md, "Log-probabilities").
  int32_t logprobs = -1;
};

struct token_logprob {
  int32_t token = 0;
  double logprob = 0.0;  // natural log, <= 0
};

// The log-probabilities at one generated position (generation_params::logprobs).
struct position_logprobs {
  token_logprob sampled;           // the token that was generated
  std::vector<token_logprob> top;  // the k most likely, most likely first (ties: smaller id first)
};

struct generation_result {
  std::vector<int32_t> prompt_tokens;  // BOS included when the vocabulary adds one
  std::vector<int32_t> tokens;         // generated, stop token excluded
  std::string text;                    // the generated tokens' pieces, concatenated (exact bytes)
  std::string finish_reason;           // "length" or "stop"
  std::vector<position_logprobs> logprobs;  // one per generated token when params.logprobs >= 0, else empty
};

// A loaded model. Immutable after construction; share it between sessions and threads.
class llama_engine {
 public:
  // Loads the full model (weights on the CPU). Errors name the path (tracemark::error).
  explicit llama_engine(const std::filesystem::path& gguf_path);
  ~llama_engine();
  llama_engine(const llama_engine&) = delete;
  llama_engine& operator=(const llama_engine&) = delete;

  const llama_tokenizer& tokenizer() const { return tokenizer_; }
  int32_t n_vocab() const { return tokenizer_.n_vocab(); }
  int32_t n_ctx_train() const;
  const std::filesystem::path& path() const { return tokenizer_.path(); }

 private:
  friend class llama_session;
  struct model_holder;
  llama_tokenizer tokenizer_;
  std::unique_ptr<model_holder> model_;
};

// Flash attention in llama.cpp's decoder. `automatic` lets llama.cpp decide (it enables
// it on the CPU). On tiny models the CPU flash-attention kernel is the slower choice:
// stories260K, 1,000 tokens: 1.99 s automatic, 0.56 s off (docs/PERFORMANCE.md).
enum class flash_attention : int8_t { automatic = -1, off = 0, on = 1 };

// One llama.cpp context (KV cache) on an engine. Not thread-safe: one request at a time
// per session; a server keeps one session per worker.
class llama_session {
 public:
  // n_ctx: context length (prompt + generation); n_threads: CPU threads for decoding.
  llama_session(const llama_engine& engine, int32_t n_ctx = 2048, int32_t n_threads = 1,
                flash_attention fa = flash_attention::automatic);
  ~llama_session();
  llama_session(const llama_session&) = delete;
  llama_session& operator=(const llama_session&) = delete;

  // Called with each generated token id, its text piece and its log-probabilities (null
  // unless params.logprobs >= 0); return false to stop.
  using token_callback = std::function<bool(int32_t token, std::string_view piece, const position_logprobs* lp)>;

  // Generates after `prompt` (tokenized with BOS if the vocabulary adds one). With a
  // watermarker, its sampler runs first in the chain (see sampler.h) and the prompt
  // tokens are its initial context. Throws tracemark::error when the prompt does not fit
  // the context or decoding fails.
  generation_result generate(std::string_view prompt, const generation_params& params,
                             const watermarker* wm = nullptr, const token_callback& on_token = {});
  // Same with an already tokenized prompt.
  generation_result generate_tokens(std::vector<int32_t> prompt_tokens, const generation_params& params,
                                    const watermarker* wm = nullptr, const token_callback& on_token = {});

  int32_t n_ctx() const { return n_ctx_; }

 private:
  const llama_engine& engine_;
  struct context_holder;
  std::unique_ptr<context_holder> ctx_;
  int32_t n_ctx_;
};

}  // namespace tracemark
