// The stable C API over the C++ core: every entry point catches every exception.
#include "tracemark/tracemark.h"

#include "c_api_internal.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "tracemark/detector.h"
#include "tracemark/evidence.h"
#include "tracemark/error.h"
#include "tracemark/key.h"
#include "tracemark/watermarker.h"


namespace {

thread_local std::string last_error;

tmk_status fail(tmk_status status, const char* message) {
  last_error = message;
  return status;
}

tmk_status from_errc(tracemark::errc code) {
  switch (code) {
    case tracemark::errc::invalid_argument: return TMK_ERR_INVALID_ARGUMENT;
    case tracemark::errc::key_missing: return TMK_ERR_KEY_MISSING;
    case tracemark::errc::key_permissions: return TMK_ERR_KEY_PERMISSIONS;
    case tracemark::errc::key_corrupt: return TMK_ERR_KEY_CORRUPT;
    case tracemark::errc::io: return TMK_ERR_IO;
    case tracemark::errc::crypto: return TMK_ERR_CRYPTO;
  }
  return TMK_ERR_INTERNAL;
}

// Runs f(), mapping every exception to a status and a thread-local message.
template <class F>
tmk_status guarded(F&& f) noexcept {
  try {
    last_error.clear();
    return f();
  } catch (const tracemark::error& e) {
    return fail(from_errc(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(TMK_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(TMK_ERR_INTERNAL, e.what());
  } catch (...) {
    return fail(TMK_ERR_INTERNAL, "unknown internal error");
  }
}

// The caller's struct over the defaults: only the bytes its struct_size covers (a caller
// compiled against an older header has fewer fields; newer fields keep their defaults).
template <class Params>
Params with_defaults(const Params* given, Params defaults, const char* what) {
  if (!given) return defaults;
  if (given->struct_size < sizeof(size_t) + sizeof(int32_t))
    throw tracemark::error(tracemark::errc::invalid_argument,
                           std::string(what) + ": struct_size is not set (start from the default params)");
  std::memcpy(&defaults, given, std::min(given->struct_size, sizeof(Params)));
  defaults.struct_size = sizeof(Params);
  return defaults;
}

tracemark::scheme_config to_config(const tmk_watermark_params& p) {
  tracemark::scheme_config c;
  if (p.scheme_name) {
    c.name = p.scheme_name;
  } else {
    switch (p.scheme) {  // int32_t: out-of-range values are reported, not undefined
      case TMK_SCHEME_KGW_LEFTHASH: c.name = "kgw-lefthash"; break;
      case TMK_SCHEME_KGW_SELFHASH: c.name = "kgw-selfhash"; break;
      case TMK_SCHEME_KGW_MINHASH: c.name = "kgw-minhash"; break;
      case TMK_SCHEME_UNIGRAM: c.name = "unigram"; break;
      default:
        throw tracemark::error(tracemark::errc::invalid_argument, "unknown scheme value " + std::to_string(p.scheme));
    }
  }
  c.context_width = p.context_width;
  c.gamma = p.gamma;
  c.vocab_size = p.vocab_size;
  if (p.account) c.account = p.account;
  return c;
}

}  // namespace

extern "C" {

const char* tmk_status_str(tmk_status status) {
  switch (status) {
    case TMK_OK: return "ok";
    case TMK_ERR_INVALID_ARGUMENT: return "invalid argument";
    case TMK_ERR_KEY_MISSING: return "key file missing";
    case TMK_ERR_KEY_PERMISSIONS: return "key file readable by group or others";
    case TMK_ERR_KEY_CORRUPT: return "key file corrupt or truncated";
    case TMK_ERR_IO: return "input/output error";
    case TMK_ERR_CRYPTO: return "cryptographic library failure";
    case TMK_ERR_OUT_OF_MEMORY: return "out of memory";
    case TMK_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* tmk_last_error(void) { return last_error.c_str(); }
const char* tmk_version(void) { return TRACEMARK_VERSION_STRING; }
int tmk_format_version(void) { return TMK_FORMAT_VERSION; }

tmk_status tmk_key_generate(tmk_key** out) {
  if (!out) return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_key_generate: out is NULL");
  *out = nullptr;
  return guarded([&] {
    *out = new tmk_key{tracemark::key::generate()};
    return TMK_OK;
  });
}

tmk_status tmk_key_load(const char* path, tmk_key** out) {
  if (!out) return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_key_load: out is NULL");
  *out = nullptr;
  if (!path) return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_key_load: path is NULL");
  return guarded([&] {
    *out = new tmk_key{tracemark::key::load(path)};
    return TMK_OK;
  });
}

tmk_status tmk_key_save(const tmk_key* key, const char* path) {
  if (!key || !path) return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_key_save: key or path is NULL");
  return guarded([&] {
    key->k.save(path);
    return TMK_OK;
  });
}

tmk_status tmk_key_fingerprint(const tmk_key* key, char* buf, size_t len) {
  if (!key || !buf) return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_key_fingerprint: key or buf is NULL");
  const std::string& fp = key->k.fingerprint();
  if (len < fp.size() + 1) return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_key_fingerprint: buffer shorter than 22 bytes");
  std::memcpy(buf, fp.c_str(), fp.size() + 1);
  return TMK_OK;
}

void tmk_key_free(tmk_key* key) { delete key; }

const char* tmk_scheme_names(void) {
  static const std::string names = tracemark::scheme_name_list();
  return names.c_str();
}

tmk_watermark_params tmk_watermark_params_default(void) {
  tmk_watermark_params p;
  p.struct_size = sizeof p;
  p.scheme = TMK_SCHEME_KGW_LEFTHASH;
  p.context_width = 1;
  p.gamma = 0.25;
  p.delta = 2.0f;
  p.vocab_size = 0;
  p.account = nullptr;
  p.scheme_name = nullptr;
  return p;
}

tmk_status tmk_watermarker_init(const tmk_key* key, const tmk_watermark_params* params, tmk_watermarker** out) {
  if (!out) return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_watermarker_init: out is NULL");
  *out = nullptr;
  if (!key || !params) return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_watermarker_init: key or params is NULL");
  return guarded([&] {
    const tmk_watermark_params p = with_defaults(params, tmk_watermark_params_default(), "tmk_watermarker_init");
    *out = new tmk_watermarker{tracemark::watermarker(key->k, to_config(p), p.delta), key->k.fingerprint()};
    return TMK_OK;
  });
}

void tmk_watermarker_free(tmk_watermarker* wm) { delete wm; }

tmk_status tmk_state_init(const tmk_watermarker* wm, tmk_state** out) {
  if (!out) return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_state_init: out is NULL");
  *out = nullptr;
  if (!wm) return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_state_init: wm is NULL");
  return guarded([&] {
    *out = new tmk_state{wm->wm.new_state()};
    return TMK_OK;
  });
}

void tmk_state_free(tmk_state* state) { delete state; }

void tmk_state_accept(tmk_state* state, int32_t token) {
  if (state) state->s.accept(token);
}

void tmk_state_reset(tmk_state* state) {
  if (state) state->s.reset();
}

tmk_status tmk_watermarker_apply(const tmk_watermarker* wm, const tmk_state* state, tmk_candidate* candidates,
                                 size_t n_candidates, int sorted_descending, size_t* n_tested) {
  if (!wm || !state || (!candidates && n_candidates > 0))
    return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_watermarker_apply: NULL argument");
  static_assert(sizeof(tmk_candidate) == sizeof(tracemark::candidate), "layouts must match");
  // Same layout (checked above); watermarker::apply is noexcept and allocation-free.
  auto* c = reinterpret_cast<tracemark::candidate*>(candidates);
  const size_t tested = wm->wm.apply(state->s, std::span<tracemark::candidate>(c, n_candidates), sorted_descending != 0);
  if (n_tested) *n_tested = tested;
  return TMK_OK;
}

tmk_detect_params tmk_detect_params_default(void) {
  tmk_detect_params p;
  p.struct_size = sizeof p;
  p.dedup = 1;
  p.min_window = 50;
  p.alpha = 1e-6;
  return p;
}

}  // extern "C"

namespace {

tracemark::detection run_detect(const tmk_watermarker& wm, const int32_t* tokens, size_t n, size_t n_prompt,
                                const tmk_detect_params& p, bool keep_trace) {
  tracemark::detect_options opt;
  opt.dedup = p.dedup != 0;
  opt.min_window = p.min_window;
  opt.keep_trace = keep_trace;
  return tracemark::detector(wm.wm.get_scheme(), opt)
      .score(std::span<const int32_t>(tokens, n), static_cast<int64_t>(n_prompt));
}

}  // namespace

extern "C" {

tmk_status tmk_detect(const tmk_watermarker* wm, const int32_t* tokens, size_t n, size_t n_prompt,
                      const tmk_detect_params* params, tmk_detection* out, char* trace) {
  if (!wm || !out || (!tokens && n > 0)) return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_detect: NULL argument");
  return guarded([&] {
    const tmk_detect_params p = with_defaults(params, tmk_detect_params_default(), "tmk_detect");
    const tracemark::detection d = run_detect(*wm, tokens, n, n_prompt, p, trace != nullptr);
    *out = tmk_detection{};
    out->n_tokens = d.n_tokens;
    out->n_scored = d.n_scored();
    out->n_green = d.n_green();
    out->n_repeat = d.n_repeat;
    out->n_prompt = d.n_prompt;
    out->n_no_context = d.n_no_context;
    out->gamma = wm->wm.get_scheme().null().p();
    out->z = d.test.z;
    out->log10_p = d.test.log10_p;
    out->window_found = d.window.found ? 1 : 0;
    out->window_begin = d.window.begin;
    out->window_end = d.window.end;
    out->window_scored = d.window.test.stat.scored;
    out->window_green = static_cast<int64_t>(d.window.test.stat.score);
    out->n_windows = d.window.n_windows;
    out->window_log10_p = d.window.test.log10_p;
    out->window_log10_p_corrected = d.window.log10_p_corrected;
    if (trace)
      for (size_t i = 0; i < n; ++i) trace[i] = tracemark::token_mark_letter(d.trace[i]);
    return TMK_OK;
  });
}

tmk_status tmk_detect_record(const tmk_watermarker* wm, const int32_t* tokens, size_t n, size_t n_prompt,
                             const tmk_detect_params* params, char* buf, size_t buf_size, size_t* record_size) {
  if (!wm || !record_size || (!tokens && n > 0) || (!buf && buf_size > 0))
    return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_detect_record: NULL argument");
  return guarded([&] {
    const tmk_detect_params p = with_defaults(params, tmk_detect_params_default(), "tmk_detect_record");
    if (n_prompt > n) throw tracemark::error(tracemark::errc::invalid_argument, "tmk_detect_record: n_prompt > n");
    if (!(p.alpha > 0.0 && p.alpha < 1.0))
      throw tracemark::error(tracemark::errc::invalid_argument, "tmk_detect_record: alpha must lie in (0, 1)");
    const tracemark::detection d = run_detect(*wm, tokens, n, n_prompt, p, false);
    const tracemark::evidence_params ep = tracemark::evidence_params::of(
        wm->wm.get_scheme(), wm->key_fingerprint, p.alpha, p.dedup != 0, p.min_window);
    const std::string record = tracemark::detection_response_json(d, static_cast<int64_t>(n_prompt), ep, true);
    *record_size = record.size();
    if (record.size() + 1 > buf_size)
      return fail(TMK_ERR_INVALID_ARGUMENT, "tmk_detect_record: the buffer is too small; *record_size + 1 bytes are needed");
    std::memcpy(buf, record.c_str(), record.size() + 1);
    return TMK_OK;
  });
}

}  // extern "C"
