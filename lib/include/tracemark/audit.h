// Provenance audit (issue 5; docs/AUDIT_DESIGN.md): is a suspect model "radioactive",
// i.e. was it trained on text marked with our key? (Sander et al., "Watermarking Makes
// Language Models Radioactive", NeurIPS 2024.)
//
// Three ways to reach the suspect feed one accumulator and give one evidence record:
//   reading mode (white box): the provider's own marked texts are teacher-forced through
//     the suspect; at position i the tuple (context x_{i-h..i-1}, suspect's top-1 prediction)
//     is scored. add_reading().
//   black box: the suspect's completions (from an API or a dump) are scored like any text,
//     after the filters below. add_completion().
//   black box with log-probabilities: the suspect's returned top-K next-token
//     distributions are scored by the probability they put on green tokens, once per
//     distinct context (the green-mass statistic, green_mass.h). add_distributions().
//
// Every distinct (seed, token) tuple counts once over the whole audit; the filters that
// keep the test valid (and the optional index that keeps it powerful) drop tuples and
// count what they dropped. Under the null hypothesis (the suspect never saw text marked
// with this key) each scored tuple is green with probability gamma_eff, and
// P[Binomial(scored, gamma_eff) >= green] is the exact p-value (docs/AUDIT_DESIGN.md
// states the argument and its assumptions).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tracemark/export.h"
#include "tracemark/green_mass.h"
#include "tracemark/key.h"
#include "tracemark/scheme.h"
#include "tracemark/statistics.h"
#include "tracemark/tokenizer.h"
#include "tracemark/tuple_set.h"

namespace tracemark {

// Contexts are identified by scheme::context_id(): two contexts with the same id select
// the same PRF inputs. For kgw-lefthash, kgw-minhash and unigram it is the seed itself
// (independent of the candidate token); for kgw-selfhash, whose seed also hashes the
// candidate, it is SipHash(K_ctx, context) (what lefthash would use): two different raw
// contexts never share a PRF input there.

// ------------------------------------------------------------------ context index

// The contexts the provider's watermark actually consulted: sorted unique context ids of
// the generated positions of the provider's marked outputs (built by `tracemark index`
// from generation logs). An audit may keep only tuples whose context is in the index
// (Sander et al. §4: "filter on scored k-grams"), where a student can have learned a bias.
//
// File format (little-endian, docs/AUDIT_DESIGN.md §5):
//   "tracemark-index 1\n"
//   "fingerprint tmk1:<16 hex>\n"
//   "scheme <kind> h=<h> gamma=<gamma> vocab=<V>[ account=<A>]\n"     (for humans)
//   "derivation <hex of the HKDF info string of docs/SPEC.md §2>\n"  (exact match required)
//   "count <N>\n"
//   "\n"
//   zero bytes up to the next multiple of 8, then N ids as LE64, strictly increasing.
// Thread safety: not thread-safe while ids are added; after finalize() (or load()),
// contains() and size() may be called from any number of threads.
class TRACEMARK_EXPORT context_index {
 public:
  // An empty index for this key and scheme (the fingerprint and derivation are recorded).
  context_index(const key& k, const scheme& s);

  // Adds the contexts of the generated positions i >= max(n_prompt, h) of a marked output
  // (the prompt tokens serve as context, as they did for the encoder).
  void add_marked(const scheme& s, std::span<const int32_t> tokens, int64_t n_prompt);
  // Adds one context id directly.
  void add_id(uint64_t id) { ids_.push_back(id); sorted_ = false; }

  // Sorts and removes duplicates; called by save() and contains() as needed.
  void finalize();
  bool contains(uint64_t id) const;
  size_t size() const;

  const std::string& fingerprint() const noexcept { return fingerprint_; }
  const std::string& derivation_info() const noexcept { return derivation_; }
  const std::string& scheme_description() const noexcept { return description_; }

  // Writes the file (atomically: a temporary file renamed over `path`). errc::io on failure.
  void save(const std::filesystem::path& path);
  // Reads a file and checks it was built for this key and scheme: errc::invalid_argument
  // naming both sides when the fingerprint or the scheme differs, or the file is malformed;
  // errc::io when it cannot be read.
  static context_index load(const std::filesystem::path& path, const key& k, const scheme& s);

 private:
  context_index() = default;
  std::string fingerprint_, derivation_, description_;
  std::vector<uint64_t> ids_;
  bool sorted_ = true;
};

// ------------------------------------------------------------------ accumulator

enum class audit_mode : uint8_t {
  reading,          // white box: teacher-forced top-1 predictions (--suspect-model)
  suspect_url,      // black box: completions from an OpenAI-compatible API (--suspect-url)
  suspect_outputs,  // black box: a dump of completions (--suspect-outputs)
};
// "reading", "suspect-url", "suspect-outputs".
TRACEMARK_EXPORT std::string_view audit_mode_name(audit_mode m) noexcept;

// What happened at one position (for samples in reports).
enum class audit_mark : uint8_t {
  green,                 // scored, green
  red,                   // scored, not green
  repeat,                // dropped: (seed, token) already scored in this audit
  no_context,            // fewer than h tokens before the position
  prompt,                // black box: a prompt token (never scored; context only)
  not_first_occurrence,  // reading: the context already occurred earlier in this text
  prompt_context,        // black box: the context occurs in a prompt (the suspect may copy it)
  not_in_index,          // the context is not in the provider's index
};
// One letter per mark, in enum order: G r = . p f c i
TRACEMARK_EXPORT char audit_mark_letter(audit_mark m) noexcept;

// What an audit scores (docs/AUDIT_DESIGN.md §1, §9).
enum class audit_statistic : uint8_t {
  sampled,     // the suspect's sampled (or, in reading mode, predicted) tokens: distinct
               // (seed, token) tuples, exact binomial test. add_completion(), add_reading().
  green_mass,  // the suspect's returned top-K distributions: the probability on green tokens
               // per distinct context, Chernoff bound (green_mass.h). add_distributions().
};
// "sampled" or "green-mass".
TRACEMARK_EXPORT std::string_view audit_statistic_name(audit_statistic s) noexcept;

// One entry of a returned next-token distribution.
struct token_probability {
  int32_t token = 0;
  double p = 0.0;  // in [0, 1]
};

struct audit_options {
  // Which statistic the accumulator computes; the add_* calls of the other one throw.
  audit_statistic statistic = audit_statistic::sampled;
  // Score each distinct (seed, token) tuple once over the whole audit. Turning it off
  // makes the test invalid; only tests and demonstrations do.
  bool dedup = true;
  // Reading mode: score a position only at the first occurrence of its context id
  // within its text. Turning it off makes the test invalid (induction copying).
  bool first_occurrence = true;
  // Reading mode, stricter: a context id seen in any earlier text of the audit (in the
  // order texts are added) is not a first occurrence either. Each context is then scored
  // at most once in the whole audit, which removes the cross-text dependence discussed in
  // docs/AUDIT_DESIGN.md §3.4 at a cost in power.
  bool first_occurrence_global = false;
  // Black box: drop tuples whose context id occurs in any prompt of the audit (as the
  // context of a prompt token). Register prompts with add_prompt() before scoring.
  bool prompt_filter = true;
  // Keep only contexts in this index (not owned; must outlive the accumulator).
  const context_index* index = nullptr;
  double alpha = 1e-6;         // significance level of the verdict (as tracemark detect)
  double confidence = 0.95;    // of the Clopper-Pearson interval on the green rate
  size_t n_samples = 0;        // documents kept with per-position marks (for reports)
};

// Scoring opportunities dropped, by reason (each position counts under one reason, the
// first that applies in the order below).
struct audit_filter_counts {
  int64_t no_context = 0;            // fewer than h tokens before the position
  int64_t not_first_occurrence = 0;  // reading mode only
  int64_t prompt_context = 0;        // black box only
  int64_t not_in_index = 0;          // only with an index
  int64_t dedup_repeats = 0;         // tuple already scored in this audit
};

// What the audit consumed.
struct audit_usage {
  int64_t documents = 0;          // texts (reading) or completions (black box) added
  int64_t tokens = 0;             // tokens in them, prompts included
  int64_t positions = 0;          // positions considered for scoring (reading: suspect predictions)
  int64_t queries = 0;            // black box via URL: HTTP requests answered by the suspect
  int64_t cache_hits = 0;         // black box via URL: completions taken from the on-disk cache
  int64_t retries = 0;            // black box via URL: requests repeated after a transient failure
  int64_t completion_tokens = 0;  // black box: tokens the suspect generated (prompts excluded)
};

// One point of the cumulative green rate (for a chart): after `scored` tuples.
struct audit_curve_point {
  int64_t scored = 0;
  double score = 0.0;  // green tuples, for green lists; the green mass for the green-mass statistic
  double log10_p = 0.0;
  double mass = 0.0;   // green mass only: the total probability mass so far
};

// One document with per-position marks (for reports).
struct audit_sample {
  std::string id;
  int64_t n_prompt = 0;
  std::vector<int32_t> tokens;         // the text as read (prompt included)
  std::vector<int32_t> scored_tokens;  // reading mode: the suspect's prediction per position
                                       // (-1 where none); empty in black-box mode
  std::vector<audit_mark> marks;       // one per position of `tokens`
};

// The evidence of an audit in every mode. Written by audit_record_json (evidence.h,
// docs/EVIDENCE.md).
struct audit_evidence {
  // Filled by the caller (what was audited, against what).
  audit_mode mode = audit_mode::reading;
  std::string suspect;          // model path, base URL or dump path
  std::string key_fingerprint;  // public
  std::string index_path;       // empty: no index
  int64_t index_contexts = 0;
  std::optional<tokenizer_identity> tokenizer;  // the provider's tokenizer, when one was used
  int32_t top_logprobs = 0;     // green mass: the K of the top-K asked of the suspect (0: not recorded)

  // The test (filled by the accumulator). For the green-mass statistic, test.stat.scored
  // counts contexts and test.stat.score is the green mass, test.z and test.log10_p are
  // those of green_mass, and interval is [0, 1] (no exact interval is computed).
  audit_statistic statistic = audit_statistic::sampled;
  green_mass_result green_mass;  // the green-mass statistic's details (zeros for `sampled`)
  scheme_config scheme;
  null_distribution null = null_distribution::binomial(0.25);
  test_result test;           // test.stat.scored distinct tuples, test.stat.score their score sum
  double confidence = 0.95;
  score_interval interval;    // exact interval of the mean score per tuple (the green rate)
  double alpha = 1e-6;
  bool detected() const noexcept { return test.significant(alpha); }

  audit_filter_counts filters;
  audit_usage usage;
  std::vector<audit_curve_point> curve;  // increasing `scored`, last = the totals
  std::vector<audit_sample> samples;
};

// Thread safety: not thread-safe (one writer). Keeps a copy of the scheme handle; the
// index in the options is borrowed (it must outlive the accumulator).
class TRACEMARK_EXPORT audit_accumulator {
 public:
  explicit audit_accumulator(scheme s, audit_options options = {});

  // Black box: registers a prompt for the prompt filter: the ids of its contexts that are
  // followed by a prompt token (positions h..n-1). Call for every prompt of the audit
  // before scoring completions (the filter is global: see docs/AUDIT_DESIGN.md §3).
  void add_prompt(std::span<const int32_t> prompt_tokens);

  // Black box: scores a completion. tokens = prompt (first n_prompt, context only; may be
  // 0) followed by the suspect's completion. Returns what it added to the test.
  using contribution = test_statistic;
  contribution add_completion(std::span<const int32_t> tokens, int64_t n_prompt, std::string_view id = {});

  // Reading mode: `text` is one of the provider's marked texts, `predictions[i]` the
  // suspect's top-1 prediction for position i given text[0..i-1] (same length as text;
  // entries at positions < h are ignored; a negative entry skips the position).
  contribution add_reading(std::span<const int32_t> text, std::span<const int32_t> predictions,
                           int64_t n_prompt = 0, std::string_view id = {});

  // Green mass (options.statistic == green_mass): tokens = prompt (first n_prompt) then the
  // suspect's completion, as for add_completion; top[j] = the distribution the suspect
  // returned for completion position n_prompt + j (its top-K tokens with probabilities;
  // top.size() must equal tokens.size() - n_prompt). A position passes the filters of
  // add_completion, then counts only at the first occurrence of its context id in the
  // whole audit (dedup_repeats counts the later ones); its green mass is the sum of p over
  // the distinct green tokens of top[j] (equal tokens are merged by adding their p, which
  // must not exceed 1 in total). Returns the contexts scored and their green mass.
  // Sample marks: G when the position's green mass exceeds gamma times its mass, else r.
  contribution add_distributions(std::span<const int32_t> tokens, int64_t n_prompt,
                                 std::span<const std::vector<token_probability>> top, std::string_view id = {});

  // Adds to the usage counters (the caller knows queries, cache hits, ...).
  audit_usage& usage() noexcept { return usage_; }

  // The statistics so far; metadata fields (mode, suspect, key_fingerprint, index) are left
  // for the caller, except scheme, which is copied from the scheme.
  audit_evidence evidence() const;

  const scheme& get_scheme() const noexcept { return scheme_; }
  const audit_options& options() const noexcept { return options_; }

 private:
  audit_mark score_tuple(const int32_t* ctx, uint64_t context_id_value, int32_t token, contribution& c);
  audit_mark score_distribution(const int32_t* ctx, uint64_t context_id_value, std::span<const token_probability> top,
                                contribution& c);
  // The prompt, no-context and prompt-context filters of the black-box modes at position
  // i (counted); nullopt when the position passes, with its context id in context_id_out.
  std::optional<audit_mark> black_box_filter(std::span<const int32_t> tokens, int64_t i, int64_t n_prompt,
                                             uint64_t& context_id_out);
  template <class Score>
  contribution score_black_box(std::span<const int32_t> tokens, int64_t n_prompt, std::string_view id, Score&& score);
  void sort_prompt_ids();
  void require(audit_statistic s, const char* call) const;
  void record_point();
  void keep_sample(std::span<const int32_t> tokens, std::span<const int32_t> scored_tokens, int64_t n_prompt,
                   std::string_view id, std::vector<audit_mark>&& marks);

  scheme scheme_;
  audit_options options_;
  tuple_set scored_;                  // (seed, token) already scored: global dedup
  tuple_set text_contexts_;           // reading mode: context ids seen in the current text
  std::vector<uint64_t> prompt_ids_;  // sorted context ids of all prompts (prompt filter)
  bool prompt_ids_sorted_ = true;
  test_statistic stat_;
  std::optional<green_mass_test> mass_;       // the green-mass statistic (only for it)
  std::vector<std::pair<size_t, int64_t>> mass_points_;  // curve: (terms, contexts) at each point
  std::vector<token_probability> merged_;     // scratch: one position's distribution, merged by token
  audit_filter_counts filters_;
  audit_usage usage_;
  std::vector<audit_curve_point> curve_;
  int64_t next_curve_at_ = 16;
  std::vector<audit_sample> samples_;
};

}  // namespace tracemark
