#include "tracemark/llama/engine.h"

#include <llama.h>

#include "llama_support.h"
#include "logprobs.h"
#include "tracemark/error.h"
#include "tracemark/llama/sampler.h"

namespace tracemark {

using llama_support::quoted;

struct llama_engine::model_holder {
  std::unique_ptr<llama_model, llama_support::model_deleter> model;
};

struct llama_session::context_holder {
  struct context_deleter {
    void operator()(llama_context* c) const noexcept { llama_free(c); }
  };
  std::unique_ptr<llama_context, context_deleter> ctx;
  llama_support::logprob_reader logprobs;  // scratch of generate_tokens, kept between requests
};

namespace {

struct chain_deleter {
  void operator()(llama_sampler* s) const noexcept { llama_sampler_free(s); }
};
using chain_ptr = std::unique_ptr<llama_sampler, chain_deleter>;

// The chain of sampler.h: watermark first, then truncation, temperature, and the draw.
chain_ptr build_chain(const generation_params& p, const watermarker* wm, llama_sampler** watermark_out) {
  llama_sampler_chain_params cp = llama_sampler_chain_default_params();
  cp.no_perf = true;
  chain_ptr chain(llama_sampler_chain_init(cp));
  if (!chain) throw error(errc::invalid_argument, "llama_sampler_chain_init failed");
  *watermark_out = nullptr;
  if (wm) {
    *watermark_out = make_llama_watermark_sampler(*wm);
    llama_sampler_chain_add(chain.get(), *watermark_out);
  }
  if (p.temperature <= 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    return chain;
  }
  if (p.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(p.top_k));
  if (p.top_p < 1.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(p.top_p, 1));
  if (p.temperature != 1.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(p.temperature));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(p.seed));
  return chain;
}

void validate(const generation_params& p) {
  if (p.max_tokens < 0) throw error(errc::invalid_argument, "max_tokens must be >= 0");
  if (!(p.temperature >= 0.0f && p.temperature <= 100.0f))
    throw error(errc::invalid_argument, "temperature must lie in [0, 100]");
  if (p.top_k < 0) throw error(errc::invalid_argument, "top_k must be >= 0");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) throw error(errc::invalid_argument, "top_p must lie in (0, 1]");
  if (p.logprobs < -1) throw error(errc::invalid_argument, "logprobs must be -1 (none) or >= 0");
}

}  // namespace

llama_engine::llama_engine(const std::filesystem::path& gguf_path)
    : tokenizer_(gguf_path), model_(std::make_unique<model_holder>()) {
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = 0;
  llama_support::capture_errors errors;
  llama_model* raw = llama_model_load_from_file(gguf_path.c_str(), params);
  if (!raw) {
    const std::string why = errors.summary();
    throw error(errc::invalid_argument,
                "llama.cpp could not load the model " + quoted(gguf_path) + (why.empty() ? "" : ": " + why));
  }
  model_->model.reset(raw);
}

llama_engine::~llama_engine() = default;

int32_t llama_engine::n_ctx_train() const { return llama_model_n_ctx_train(model_->model.get()); }

llama_session::llama_session(const llama_engine& engine, int32_t n_ctx, int32_t n_threads, flash_attention fa)
    : engine_(engine), ctx_(std::make_unique<context_holder>()), n_ctx_(n_ctx) {
  if (n_ctx < 8) throw error(errc::invalid_argument, "context length must be at least 8 tokens");
  if (n_threads < 1) throw error(errc::invalid_argument, "n_threads must be at least 1");
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(n_ctx);
  cp.n_batch = static_cast<uint32_t>(n_ctx);
  cp.n_ubatch = static_cast<uint32_t>(std::min(n_ctx, 512));
  cp.n_seq_max = 1;
  cp.n_threads = n_threads;
  cp.n_threads_batch = n_threads;
  cp.no_perf = true;
  cp.flash_attn_type = fa == flash_attention::on    ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                       : fa == flash_attention::off ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                                                    : LLAMA_FLASH_ATTN_TYPE_AUTO;
  llama_support::capture_errors errors;
  ctx_->ctx.reset(llama_init_from_model(engine.model_->model.get(), cp));
  if (!ctx_->ctx) {
    const std::string why = errors.summary();
    throw error(errc::invalid_argument, "llama.cpp could not create a context for " + quoted(engine.path()) +
                                            (why.empty() ? "" : ": " + why));
  }
}

llama_session::~llama_session() = default;

generation_result llama_session::generate(std::string_view prompt, const generation_params& params,
                                          const watermarker* wm, const token_callback& on_token) {
  return generate_tokens(engine_.tokenizer().tokenize(prompt, /*add_special=*/true),
                         params, wm, on_token);
}

generation_result llama_session::generate_tokens(std::vector<int32_t> prompt_tokens, const generation_params& params,
                                                 const watermarker* wm, const token_callback& on_token) {
  validate(params);
  if (wm && wm->get_scheme().config().vocab_size != engine_.n_vocab())
    throw error(errc::invalid_argument, "the watermark is configured for vocabulary size " +
                                            std::to_string(wm->get_scheme().config().vocab_size) + " but the model " +
                                            quoted(engine_.path()) + " has " + std::to_string(engine_.n_vocab()));
  if (prompt_tokens.empty()) throw error(errc::invalid_argument, "the prompt is empty (no tokens)");
  if (static_cast<int64_t>(prompt_tokens.size()) + 1 > n_ctx_)
    throw error(errc::invalid_argument, "the prompt has " + std::to_string(prompt_tokens.size()) +
                                            " tokens; the context holds " + std::to_string(n_ctx_));

  generation_result out;
  out.prompt_tokens = std::move(prompt_tokens);
  llama_context* ctx = ctx_->ctx.get();
  const llama_vocab* vocab = llama_model_get_vocab(llama_get_model(ctx));
  llama_memory_clear(llama_get_memory(ctx), true);

  llama_sampler* watermark = nullptr;
  chain_ptr chain = build_chain(params, wm, &watermark);
  if (watermark)
    for (int32_t t : out.prompt_tokens) llama_sampler_accept(watermark, t);

  llama_batch batch = llama_batch_get_one(out.prompt_tokens.data(), static_cast<int32_t>(out.prompt_tokens.size()));
  if (llama_decode(ctx, batch) != 0) throw error(errc::invalid_argument, "llama_decode failed on the prompt");

  const int32_t bos = llama_vocab_bos(vocab);
  const int64_t room = n_ctx_ - static_cast<int64_t>(out.prompt_tokens.size());
  const int64_t limit = std::min<int64_t>(params.max_tokens, room);
  out.finish_reason = "length";
  const bool with_logprobs = params.logprobs >= 0;
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  if (params.logprobs > n_vocab)
    throw error(errc::invalid_argument, "logprobs must not exceed the vocabulary size (" + std::to_string(n_vocab) + ")");
  while (static_cast<int64_t>(out.tokens.size()) < limit) {
    // The model's own distribution: read before any sampler of the chain sees the logits.
    if (with_logprobs) ctx_->logprobs.read(llama_get_logits_ith(ctx, -1), n_vocab, params.logprobs);
    llama_token tok = llama_sampler_sample(chain.get(), ctx, -1);
    if (llama_vocab_is_eog(vocab, tok) || (params.stop_at_bos && tok == bos)) {
      out.finish_reason = "stop";
      break;
    }
    out.tokens.push_back(tok);
    if (with_logprobs) out.logprobs.push_back(ctx_->logprobs.entry(tok));
    const std::string piece = engine_.tokenizer().token_to_piece(tok);
    out.text += piece;
    if (on_token && !on_token(tok, piece, with_logprobs ? &out.logprobs.back() : nullptr)) {
      out.finish_reason = "stop";
      break;
    }
    if (static_cast<int64_t>(out.tokens.size()) >= limit) break;
    batch = llama_batch_get_one(&tok, 1);
    if (llama_decode(ctx, batch) != 0) throw error(errc::invalid_argument, "llama_decode failed while generating");
  }
  return out;
}

}  // namespace tracemark
