/* End-to-end test of tracemark.h from C99: keys, watermarking, detection, errors. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracemark/tracemark.h"

static int n_passed = 0, n_failed = 0;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (cond) {                                                       \
      ++n_passed;                                                     \
    } else {                                                          \
      ++n_failed;                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                 \
  } while (0)

static uint64_t rng_state = 12345;
static uint32_t rng_below(uint32_t n) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(((rng_state >> 32) * n) >> 32);
}

static void test_errors(const char* dir) {
  tmk_key* key = (tmk_key*)1;
  char path[512];
  CHECK(tmk_key_load("/nonexistent/tracemark.key", &key) == TMK_ERR_KEY_MISSING);
  CHECK(key == NULL);
  CHECK(strstr(tmk_last_error(), "/nonexistent/tracemark.key") != NULL);
  CHECK(tmk_key_load(NULL, &key) == TMK_ERR_INVALID_ARGUMENT);
  CHECK(tmk_key_generate(NULL) == TMK_ERR_INVALID_ARGUMENT);

  /* A world-readable key file is refused. */
  CHECK(tmk_key_generate(&key) == TMK_OK);
  snprintf(path, sizeof path, "%s/open.key", dir);
  CHECK(tmk_key_save(key, path) == TMK_OK);
  CHECK(tmk_key_save(key, path) != TMK_OK); /* never overwrites */
  chmod(path, 0644);
  {
    tmk_key* loaded = NULL;
    CHECK(tmk_key_load(path, &loaded) == TMK_ERR_KEY_PERMISSIONS);
    CHECK(loaded == NULL);
    CHECK(strstr(tmk_last_error(), "chmod 600") != NULL);
  }

  {
    tmk_watermark_params p = tmk_watermark_params_default();
    tmk_watermarker* wm = (tmk_watermarker*)1;
    CHECK(tmk_watermarker_init(key, &p, &wm) == TMK_ERR_INVALID_ARGUMENT); /* vocab_size unset */
    CHECK(wm == NULL);
    CHECK(strstr(tmk_last_error(), "vocab_size") != NULL);
    p.vocab_size = 100;
    p.gamma = 1.5;
    CHECK(tmk_watermarker_init(key, &p, &wm) == TMK_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tmk_last_error(), "gamma") != NULL);
    p.gamma = 0.25;
    p.scheme = 42;
    CHECK(tmk_watermarker_init(key, &p, &wm) == TMK_ERR_INVALID_ARGUMENT);
    p.scheme = TMK_SCHEME_UNIGRAM; /* needs context_width 0 */
    CHECK(tmk_watermarker_init(key, &p, &wm) == TMK_ERR_INVALID_ARGUMENT);
    p.scheme = TMK_SCHEME_KGW_LEFTHASH;
    p.scheme_name = "kgw-nosuch"; /* a name wins over the enum, and is checked */
    CHECK(tmk_watermarker_init(key, &p, &wm) == TMK_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tmk_last_error(), "valid schemes") != NULL);
    p.scheme_name = "kgw-selfhash";
    CHECK(tmk_watermarker_init(key, &p, &wm) == TMK_OK);
    tmk_watermarker_free(wm);
    wm = NULL;
    p.scheme_name = NULL;
    p.struct_size = 0; /* not started from the default */
    CHECK(tmk_watermarker_init(key, &p, &wm) == TMK_ERR_INVALID_ARGUMENT);
    CHECK(strstr(tmk_last_error(), "struct_size") != NULL);
    /* A caller compiled before scheme_name existed: the library reads only its fields. */
    p = tmk_watermark_params_default();
    p.vocab_size = 100;
    p.scheme_name = "garbage that an old caller never wrote";
    p.struct_size = offsetof(tmk_watermark_params, scheme_name);
    CHECK(tmk_watermarker_init(key, &p, &wm) == TMK_OK);
    tmk_watermarker_free(wm);
  }
  CHECK(strstr(tmk_scheme_names(), "kgw-lefthash") != NULL);
  CHECK(strstr(tmk_scheme_names(), "unigram") != NULL);
  CHECK(strcmp(tmk_status_str(TMK_ERR_KEY_PERMISSIONS), "key file readable by group or others") == 0);
  CHECK(strcmp(tmk_status_str((tmk_status)99), "unknown status") == 0);
  tmk_key_free(key);
  tmk_key_free(NULL);
}

static void test_round_trip(const char* dir) {
  tmk_key *key = NULL, *loaded = NULL;
  char path[512], fp1[32], fp2[32];
  struct stat st;
  CHECK(tmk_key_generate(&key) == TMK_OK);
  snprintf(path, sizeof path, "%s/provider.key", dir);
  CHECK(tmk_key_save(key, path) == TMK_OK);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
  CHECK(tmk_key_load(path, &loaded) == TMK_OK);
  CHECK(tmk_key_fingerprint(key, fp1, sizeof fp1) == TMK_OK);
  CHECK(tmk_key_fingerprint(loaded, fp2, sizeof fp2) == TMK_OK);
  CHECK(strcmp(fp1, fp2) == 0);
  CHECK(strncmp(fp1, "tmk1:", 5) == 0 && strlen(fp1) == 21);
  CHECK(tmk_key_fingerprint(key, fp1, 10) == TMK_ERR_INVALID_ARGUMENT);

  {
    enum { vocab = 5000, steps = 300 };
    tmk_watermark_params p = tmk_watermark_params_default();
    tmk_watermarker *wm = NULL, *other = NULL;
    tmk_state* state = NULL;
    static tmk_candidate cands[vocab];
    int32_t text[steps];
    char trace[steps];
    tmk_detection d;
    tmk_detect_params dp = tmk_detect_params_default();
    int i, t;
    size_t tested = 0;
    p.vocab_size = vocab;
    p.account = "customer-42";
    CHECK(tmk_watermarker_init(loaded, &p, &wm) == TMK_OK);
    CHECK(tmk_state_init(wm, &state) == TMK_OK);
    for (t = 0; t < steps; ++t) {
      /* Uniform model over the vocabulary; the watermark (delta 2) tilts it green. */
      double z = 0, u;
      for (i = 0; i < vocab; ++i) {
        cands[i].id = i;
        cands[i].logit = 0.0f;
        cands[i].p = 0.0f;
      }
      CHECK(tmk_watermarker_apply(wm, state, cands, vocab, 0, &tested) == TMK_OK);
      for (i = 0; i < vocab; ++i) z += cands[i].logit > 0 ? 7.389056 : 1.0;
      u = (double)rng_below(1u << 30) / (double)(1u << 30) * z;
      for (i = 0; i < vocab - 1; ++i) {
        u -= cands[i].logit > 0 ? 7.389056 : 1.0;
        if (u <= 0) break;
      }
      text[t] = i;
      tmk_state_accept(state, i);
    }
    CHECK(tested == vocab);
    CHECK(tmk_detect(wm, text, steps, 0, &dp, &d, trace) == TMK_OK);
    CHECK(d.n_tokens == steps);
    CHECK(d.n_no_context == 1 && trace[0] == '.');
    CHECK(d.n_scored + d.n_repeat == steps - 1);
    CHECK(d.log10_p < -20.0);
    CHECK(d.window_found == 1);
    CHECK(trace[1] == 'G' || trace[1] == 'r' || trace[1] == '=');

    /* Another account's sub-key sees nothing. */
    p.account = "customer-43";
    CHECK(tmk_watermarker_init(loaded, &p, &other) == TMK_OK);
    CHECK(tmk_detect(other, text, steps, 0, NULL, &d, NULL) == TMK_OK);
    CHECK(d.log10_p > -3.0);

    /* The record writer's detection record, with its parameters. */
    {
      size_t size = 0;
      char small[16];
      static char record[8192];
      dp.alpha = 1e-9;
      CHECK(tmk_detect_record(wm, text, steps, 0, &dp, small, sizeof small, &size) == TMK_ERR_INVALID_ARGUMENT);
      CHECK(size > sizeof small);
      CHECK(size < sizeof record);
      CHECK(tmk_detect_record(wm, text, steps, 0, &dp, record, sizeof record, &size) == TMK_OK);
      CHECK(strlen(record) == size);
      CHECK(strncmp(record, "{\"object\":\"tracemark.detection\",", 32) == 0);
      CHECK(strstr(record, "\"account\":\"customer-42\"") != NULL);
      CHECK(strstr(record, "\"verdict\":\"watermarked\"") != NULL);
      CHECK(strstr(record, "\"alpha\":1e-09") != NULL);
      CHECK(strstr(record, "\"params\":{\"format\":\"tracemark-v1\"") != NULL);
      CHECK(strstr(record, fp2) != NULL); /* the key's fingerprint, never its secret */
    }

    /* Prompt tokens are context only. */
    CHECK(tmk_detect(wm, text, steps, 10, NULL, &d, NULL) == TMK_OK);
    CHECK(d.n_prompt == 10);
    CHECK(tmk_detect(wm, NULL, 5, 0, NULL, &d, NULL) == TMK_ERR_INVALID_ARGUMENT);

    tmk_state_reset(state);
    tmk_state_free(state);
    tmk_watermarker_free(wm);
    tmk_watermarker_free(other);
  }
  tmk_key_free(key);
  tmk_key_free(loaded);
}

int main(void) {
  char dir[] = "/tmp/tracemark-c-api-XXXXXX";
  char cmd[600];
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  CHECK(tmk_format_version() == TMK_FORMAT_VERSION);
  CHECK(strlen(tmk_version()) > 0);
  test_errors(dir);
  test_round_trip(dir);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  printf("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed == 0 ? 0 : 1;
}
