/* tracemark stable C API (compiles as C99 and C++).
 *
 * Conventions
 * - Objects are opaque handles created by tmk_<object>_init / _generate / _load and
 *   released by tmk_<object>_free (which accepts NULL).
 * - Every function that can fail returns tmk_status; on failure the output handle is
 *   set to NULL and tmk_last_error() describes the problem (thread-local; valid until
 *   the next tracemark call on the same thread). No C++ exception ever crosses this API.
 * - Thread safety: tmk_key and tmk_watermarker are immutable after creation and may be
 *   shared by any number of threads. A tmk_state belongs to one sequence and must not
 *   be used by two threads at once.
 * - The per-token calls tmk_watermarker_apply, tmk_state_accept and tmk_state_reset
 *   never allocate.
 * - Secrets: no function prints or returns the key's secret; only its fingerprint.
 * - Forward compatibility: every *_params struct starts with `struct_size`, which
 *   tmk_*_params_default() sets to the size the caller was compiled with. Start from the
 *   default and change fields; a library built later reads only what the caller's struct
 *   has, and gives fields added since their documented defaults.
 * - Records: tmk_detect_record writes the same JSON record as the server's /v1/detect
 *   (docs/EVIDENCE.md), from the library's one record writer.
 */
#ifndef TRACEMARK_TRACEMARK_H
#define TRACEMARK_TRACEMARK_H

#include <stddef.h>
#include <stdint.h>

#include "tracemark/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TMK_FORMAT_VERSION 1

typedef enum tmk_status {
  TMK_OK = 0,
  TMK_ERR_INVALID_ARGUMENT = 1, /* a parameter is out of range or a pointer is NULL */
  TMK_ERR_KEY_MISSING = 2,      /* key file does not exist or cannot be opened */
  TMK_ERR_KEY_PERMISSIONS = 3,  /* key file is accessible by group or others */
  TMK_ERR_KEY_CORRUPT = 4,      /* key file is truncated, malformed, or fails its fingerprint */
  TMK_ERR_IO = 5,               /* reading or writing a file failed */
  TMK_ERR_CRYPTO = 6,           /* OpenSSL failed */
  TMK_ERR_OUT_OF_MEMORY = 7,
  TMK_ERR_INTERNAL = 8          /* a bug: please report */
} tmk_status;

/* Static English description of a status code. Never NULL. */
TRACEMARK_EXPORT const char* tmk_status_str(tmk_status status);
/* Message of the last failure on this thread ("" if none). Owned by the library. */
TRACEMARK_EXPORT const char* tmk_last_error(void);
/* Library version, e.g. "0.1.0". Static string. */
TRACEMARK_EXPORT const char* tmk_version(void);
/* Watermark format version implemented (docs/SPEC.md): TMK_FORMAT_VERSION. */
TRACEMARK_EXPORT int tmk_format_version(void);

/* ---- keys ------------------------------------------------------------------ */
typedef struct tmk_key tmk_key;

/* New random key (OpenSSL RAND_priv_bytes). Caller owns *out; free with tmk_key_free. */
TRACEMARK_EXPORT tmk_status tmk_key_generate(tmk_key** out);
/* Reads a key file (refused if group/other-accessible). Caller owns *out. */
TRACEMARK_EXPORT tmk_status tmk_key_load(const char* path, tmk_key** out);
/* Writes the key file with mode 0600; fails rather than overwrite an existing file. */
TRACEMARK_EXPORT tmk_status tmk_key_save(const tmk_key* key, const char* path);
/* Copies the public fingerprint ("tmk1:" + 16 hex, NUL-terminated) into buf; len >= 22. */
TRACEMARK_EXPORT tmk_status tmk_key_fingerprint(const tmk_key* key, char* buf, size_t len);
TRACEMARK_EXPORT void tmk_key_free(tmk_key* key);

/* ---- watermarker ------------------------------------------------------------ */
typedef enum tmk_scheme {
  TMK_SCHEME_KGW_LEFTHASH = 0,
  TMK_SCHEME_KGW_SELFHASH = 1,
  TMK_SCHEME_KGW_MINHASH = 2,
  TMK_SCHEME_UNIGRAM = 3
} tmk_scheme;

typedef struct tmk_watermark_params {
  size_t struct_size;    /* sizeof(tmk_watermark_params) of the caller: set by the default */
  int32_t scheme;        /* a tmk_scheme value, default TMK_SCHEME_KGW_LEFTHASH (an int32_t, not
                            the enum type, so that an out-of-range value is checked, not UB) */
  int32_t context_width; /* h: default 1; must be 0 for TMK_SCHEME_UNIGRAM */
  double gamma;          /* green fraction, default 0.25 */
  float delta;           /* logit bias of green tokens, default 2.0 (ignored by detection) */
  int32_t vocab_size;    /* required: the tokenizer's vocabulary size (default 0 = unset) */
  const char* account;   /* API account id for a per-account sub-key; NULL or "" = master */
  const char* scheme_name; /* a registered scheme by name ("kgw-lefthash", ...: see
                              tmk_scheme_names()); NULL (the default) = use `scheme` */
} tmk_watermark_params;

/* The registered scheme names, comma-separated ("kgw-lefthash, kgw-selfhash, ..."). Static. */
TRACEMARK_EXPORT const char* tmk_scheme_names(void);

/* The documented defaults above. */
TRACEMARK_EXPORT tmk_watermark_params tmk_watermark_params_default(void);

typedef struct tmk_watermarker tmk_watermarker;

/* Derives the scheme's sub-keys; `key` may be freed afterwards. Caller owns *out. */
TRACEMARK_EXPORT tmk_status tmk_watermarker_init(const tmk_key* key, const tmk_watermark_params* params,
                                                 tmk_watermarker** out);
TRACEMARK_EXPORT void tmk_watermarker_free(tmk_watermarker* wm);

/* ---- per-sequence state ----------------------------------------------------- */
typedef struct tmk_state tmk_state;

/* A fresh context for one sequence of `wm`. Caller owns *out. */
TRACEMARK_EXPORT tmk_status tmk_state_init(const tmk_watermarker* wm, tmk_state** out);
TRACEMARK_EXPORT void tmk_state_free(tmk_state* state);
/* Appends a sampled (or prompt) token to the context. Never allocates. */
TRACEMARK_EXPORT void tmk_state_accept(tmk_state* state, int32_t token);
/* Starts a new text. Never allocates. */
TRACEMARK_EXPORT void tmk_state_reset(tmk_state* state);

/* Same layout as llama.cpp's llama_token_data. */
typedef struct tmk_candidate {
  int32_t id;
  float logit;
  float p;
} tmk_candidate;

/* Adds delta to green candidates (docs/SPEC.md §5); sorted_descending != 0 promises
 * candidates are sorted by logit, largest first. n_tested (may be NULL) receives how
 * many candidates were tested. Never allocates. */
TRACEMARK_EXPORT tmk_status tmk_watermarker_apply(const tmk_watermarker* wm, const tmk_state* state,
                                                  tmk_candidate* candidates, size_t n_candidates,
                                                  int sorted_descending, size_t* n_tested);

/* ---- detection -------------------------------------------------------------- */
typedef struct tmk_detect_params {
  size_t struct_size; /* sizeof(tmk_detect_params) of the caller: set by the default */
  int dedup;          /* score each distinct (context, token) tuple once: default 1 */
  int64_t min_window; /* smallest window in scored tuples, 0 = no windows: default 50 */
  double alpha;       /* significance level of the record's verdict: default 1e-6 */
} tmk_detect_params;

TRACEMARK_EXPORT tmk_detect_params tmk_detect_params_default(void);

typedef struct tmk_detection {
  int64_t n_tokens, n_scored, n_green, n_repeat, n_prompt, n_no_context;
  double gamma;   /* exact null green probability */
  double z;
  double log10_p; /* log10 P[Binomial(n_scored, gamma) >= n_green] */
  int window_found;
  int64_t window_begin, window_end; /* token positions [begin, end) */
  int64_t window_scored, window_green, n_windows;
  double window_log10_p, window_log10_p_corrected;
} tmk_detection;

/* Scores tokens[0..n) under wm's scheme; the first n_prompt tokens are prompt (context
 * only). trace, if not NULL, receives n letters (G r = p .) and is not NUL-terminated.
 * Thread-safe: any number of threads may detect with the same wm. */
TRACEMARK_EXPORT tmk_status tmk_detect(const tmk_watermarker* wm, const int32_t* tokens, size_t n,
                                       size_t n_prompt, const tmk_detect_params* params,
                                       tmk_detection* out, char* trace);

/* Scores tokens like tmk_detect and writes the detection record (docs/EVIDENCE.md: the
 * fields of the server's /v1/detect answer, with the full parameter set) as NUL-terminated
 * JSON into buf[0..buf_size). *record_size (required) receives the record's length without
 * the NUL; when it does not fit, nothing is written and TMK_ERR_INVALID_ARGUMENT is
 * returned: call again with a buffer of *record_size + 1 bytes. Thread-safe. */
TRACEMARK_EXPORT tmk_status tmk_detect_record(const tmk_watermarker* wm, const int32_t* tokens, size_t n,
                                              size_t n_prompt, const tmk_detect_params* params, char* buf,
                                              size_t buf_size, size_t* record_size);

#ifdef __cplusplus
}
#endif
#endif
