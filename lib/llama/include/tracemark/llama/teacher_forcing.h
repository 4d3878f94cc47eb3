// White-box "reading mode" of the provenance audit (tracemark/audit.h): the suspect
// model's top-1 next-token predictions along a given token sequence, computed by
// teacher forcing (one llama_decode of the whole sequence with logits at every position).
// Part of the optional target tracemark::llama; includes no llama.cpp header.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

namespace tracemark {

// Thread safety: not thread-safe (one llama.cpp context); one per thread.
class teacher_forcer {
 public:
  // Loads the model (weights on the CPU; llama.cpp maps the file, so a second load of a
  // model already loaded elsewhere in the process shares its pages). n_ctx: the longest
  // window evaluated at once; n_threads: CPU threads. Errors (tracemark::error) name the path.
  explicit teacher_forcer(const std::filesystem::path& gguf_path, int32_t n_ctx = 512, int32_t n_threads = 1);
  ~teacher_forcer();
  teacher_forcer(const teacher_forcer&) = delete;
  teacher_forcer& operator=(const teacher_forcer&) = delete;

  int32_t n_vocab() const;
  int32_t n_ctx() const { return n_ctx_; }
  int32_t n_ctx_train() const;

  // predictions[i] = argmax_v logit(v | tokens[0..i-1]) for 1 <= i < n (ties: the lowest
  // id); predictions[0] = -1 (nothing precedes it). A sequence longer than n_ctx is read
  // in windows of n_ctx tokens advancing by n_ctx/2, so every position past the first
  // window sees at least n_ctx/2 tokens of context. Token ids must lie in [0, n_vocab).
  // Throws tracemark::error when decoding fails.
  std::vector<int32_t> top1(std::span<const int32_t> tokens);

  // Positions evaluated so far (logit rows computed), over all calls.
  int64_t n_evaluated() const { return n_evaluated_; }

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  int32_t n_ctx_;
  int64_t n_evaluated_ = 0;
};

}  // namespace tracemark
