#include "tracemark/llama/teacher_forcing.h"

#include <llama.h>

#include <algorithm>
#include <string>

#include "llama_support.h"
#include "tracemark/error.h"

namespace tracemark {

using llama_support::quoted;

struct teacher_forcer::impl {
  struct context_deleter {
    void operator()(llama_context* c) const noexcept { llama_free(c); }
  };
  struct batch_holder {
    llama_batch batch{};
    explicit batch_holder(int32_t n) : batch(llama_batch_init(n, 0, 1)) {}
    ~batch_holder() { llama_batch_free(batch); }
    batch_holder(const batch_holder&) = delete;
    batch_holder& operator=(const batch_holder&) = delete;
  };
  std::unique_ptr<llama_model, llama_support::model_deleter> model;
  std::unique_ptr<llama_context, context_deleter> ctx;
  std::unique_ptr<batch_holder> batch;
  int32_t n_vocab = 0;
};

teacher_forcer::teacher_forcer(const std::filesystem::path& gguf_path, int32_t n_ctx, int32_t n_threads)
    : impl_(std::make_unique<impl>()), n_ctx_(n_ctx) {
  if (n_ctx < 8) throw error(errc::invalid_argument, "teacher forcing needs a context of at least 8 tokens");
  if (n_threads < 1) throw error(errc::invalid_argument, "n_threads must be at least 1");
  llama_support::check_gguf_file(gguf_path);
  llama_support::init_llama_once();
  llama_support::capture_errors errors;
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  impl_->model.reset(llama_model_load_from_file(gguf_path.c_str(), mp));
  if (!impl_->model) {
    const std::string why = errors.summary();
    throw error(errc::invalid_argument,
                "llama.cpp could not load the model " + quoted(gguf_path) + (why.empty() ? "" : ": " + why));
  }
  impl_->n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(impl_->model.get()));

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(n_ctx);
  cp.n_batch = static_cast<uint32_t>(n_ctx);   // the whole window in one llama_decode
  cp.n_ubatch = static_cast<uint32_t>(std::min(n_ctx, 512));
  cp.n_seq_max = 1;
  cp.n_threads = n_threads;
  cp.n_threads_batch = n_threads;
  cp.no_perf = true;
  impl_->ctx.reset(llama_init_from_model(impl_->model.get(), cp));
  if (!impl_->ctx) {
    const std::string why = errors.summary();
    throw error(errc::invalid_argument, "llama.cpp could not create a context for " + quoted(gguf_path) +
                                            (why.empty() ? "" : ": " + why));
  }
  impl_->batch = std::make_unique<impl::batch_holder>(n_ctx);
}

teacher_forcer::~teacher_forcer() = default;

int32_t teacher_forcer::n_vocab() const { return impl_->n_vocab; }

int32_t teacher_forcer::n_ctx_train() const { return llama_model_n_ctx_train(impl_->model.get()); }

std::vector<int32_t> teacher_forcer::top1(std::span<const int32_t> tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  std::vector<int32_t> out(tokens.size(), -1);
  for (const int32_t t : tokens)
    if (t < 0 || t >= impl_->n_vocab)
      throw error(errc::invalid_argument, "teacher forcing: token id " + std::to_string(t) +
                                              " is outside the model's vocabulary of " +
                                              std::to_string(impl_->n_vocab));
  if (n < 2) return out;

  llama_context* ctx = impl_->ctx.get();
  llama_batch& batch = impl_->batch->batch;
  const int64_t window = n_ctx_, stride = std::max<int64_t>(1, n_ctx_ / 2);
  int64_t next = 1;  // first position still without a prediction
  for (int64_t start = 0; next < n; start += stride) {
    const int64_t end = std::min(n, start + window);
    // Logit row j (start <= j < end) predicts position j + 1; we need positions next..n-1.
    llama_memory_clear(llama_get_memory(ctx), true);
    batch.n_tokens = static_cast<int32_t>(end - start);
    int32_t n_outputs = 0;
    for (int64_t j = start; j < end; ++j) {
      const auto b = static_cast<size_t>(j - start);
      batch.token[b] = tokens[static_cast<size_t>(j)];
      batch.pos[b] = static_cast<llama_pos>(j - start);
      batch.n_seq_id[b] = 1;
      batch.seq_id[b][0] = 0;
      const bool want = j + 1 >= next && j + 1 < n;
      batch.logits[b] = want ? 1 : 0;
      n_outputs += want;
    }
    if (n_outputs > 0) {
      if (llama_decode(ctx, batch) != 0) throw error(errc::invalid_argument, "llama_decode failed in teacher forcing");
      const int32_t v = impl_->n_vocab;
      for (int64_t j = start; j < end; ++j) {
        if (!(j + 1 >= next && j + 1 < n)) continue;
        const float* logits = llama_get_logits_ith(ctx, static_cast<int32_t>(j - start));
        if (!logits) throw error(errc::invalid_argument, "llama.cpp returned no logits in teacher forcing");
        int32_t best = 0;
        for (int32_t t = 1; t < v; ++t)
          if (logits[t] > logits[best]) best = t;
        out[static_cast<size_t>(j + 1)] = best;
      }
      n_evaluated_ += n_outputs;
    }
    next = std::max(next, end + 1);  // positions up to `end` (row end - 1) are done
    if (end == n) break;
  }
  return out;
}

}  // namespace tracemark
