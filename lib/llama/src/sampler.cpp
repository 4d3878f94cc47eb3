#include "tracemark/llama/sampler.h"

#include <llama.h>

#include <new>

#include "c_api_internal.h"
#include "llama_support.h"
#include "tracemark/error.h"
#include "tracemark/watermarker.h"

namespace tracemark {
namespace {

struct watermark_sampler {
  const watermarker* wm;
  sequence_state state;
};

static_assert(sizeof(llama_token_data) == sizeof(candidate) && alignof(llama_token_data) == alignof(candidate),
              "tracemark::candidate must match llama_token_data");

watermark_sampler& ctx_of(const llama_sampler* smpl) { return *static_cast<watermark_sampler*>(smpl->ctx); }

const char* sampler_name(const llama_sampler*) { return "tracemark"; }

void sampler_accept(llama_sampler* smpl, llama_token token) { ctx_of(smpl).state.accept(token); }

void sampler_apply(llama_sampler* smpl, llama_token_data_array* cur_p) {
  watermark_sampler& s = ctx_of(smpl);
  auto* cands = reinterpret_cast<candidate*>(cur_p->data);
  const size_t tested = s.wm->apply(s.state, std::span<candidate>(cands, cur_p->size), cur_p->sorted);
  // Biased logits are no longer in order, and a selection made before us is void.
  if (tested > 0) cur_p->sorted = false;
}

void sampler_reset(llama_sampler* smpl) { ctx_of(smpl).state.reset(); }

llama_sampler* sampler_clone(const llama_sampler* smpl);

void sampler_free(llama_sampler* smpl) { delete static_cast<watermark_sampler*>(smpl->ctx); }

llama_sampler_i sampler_interface() {
  llama_sampler_i i{};
  i.name = sampler_name;
  i.accept = sampler_accept;
  i.apply = sampler_apply;
  i.reset = sampler_reset;
  i.clone = sampler_clone;
  i.free = sampler_free;
  return i;
}

llama_sampler_i g_interface = sampler_interface();

llama_sampler* make(const watermarker* wm, const sequence_state& state) {
  llama_support::init_llama_once();
  auto* ctx = new watermark_sampler{wm, state};
  llama_sampler* smpl = llama_sampler_init(&g_interface, ctx);
  if (!smpl) {
    delete ctx;
    throw error(errc::invalid_argument, "llama_sampler_init failed");
  }
  return smpl;
}

llama_sampler* sampler_clone(const llama_sampler* smpl) {
  const watermark_sampler& s = ctx_of(smpl);
  try {
    return make(s.wm, s.state);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

llama_sampler* make_llama_watermark_sampler(const watermarker& wm) { return make(&wm, wm.new_state()); }

}  // namespace tracemark

extern "C" llama_sampler* tmk_llama_sampler_init(const tmk_watermarker* wm) {
  if (!wm) return nullptr;
  try {
    return tracemark::make_llama_watermark_sampler(wm->wm);
  } catch (...) {
    return nullptr;
  }
}
