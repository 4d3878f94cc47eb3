// Corpus verdict: one exact test over all documents of a corpus, with tuples deduplicated
// across documents, an estimate of the marked fraction, and the documents that carry the
// most evidence. A corpus can be scored in shards (machines, days, files), each saved as an
// evidence file, and the shards merged into exactly the record one pass would give
// (corpus_evidence.h).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tracemark/export.h"
#include "tracemark/scheme.h"
#include "tracemark/statistics.h"

namespace tracemark {

namespace detail {
class tuple_owner_table;
}
struct evidence_metadata;
class corpus_accumulator;
// corpus_evidence.h
TRACEMARK_EXPORT void save_evidence(corpus_accumulator& acc, const evidence_metadata& metadata,
                                    const std::string& path);

struct corpus_options {
  bool dedup = true;         // each distinct (seed, token) tuple counts once in the whole corpus
  size_t n_top_documents = 10;
};

// What one document added to the corpus test: only tuples new to the corpus count.
struct document_contribution {
  int64_t index = 0;  // the document's number in the corpus, 0-based (documents that failed count too)
  std::string id;
  int64_t n_tokens = 0;  // tokens after its prompt
  test_result test;      // of this contribution alone
};

// The corpus's mixture is estimated only when the corpus test is at least this significant.
inline constexpr double marked_fraction_min_log10_p = -3.0;

struct corpus_verdict {
  int64_t n_documents = 0;  // documents scored
  int64_t n_errors = 0;     // documents that could not be scored (counted, not tested)
  int64_t n_tokens = 0;     // tokens of the scored documents, prompts excluded
  test_result test;         // over every distinct tuple of the corpus
  // Two-component binomial mixture fitted by EM over documents (green-list schemes): a
  // fraction `marked_fraction` of documents has green rate `marked_green_rate` > gamma,
  // the rest gamma. An estimate, not part of the test; 0 (and gamma) unless the corpus test
  // has log10 p <= marked_fraction_min_log10_p.
  double marked_fraction = 0.0;
  double marked_green_rate = 0.0;
  std::vector<document_contribution> top_documents;  // smallest log10 p first (ties: lower index)
};

// One corpus entry as kept by an accumulator and stored in evidence files.
struct corpus_entry {
  int64_t document = 0;  // document number (see document_contribution::index)
  int64_t n_tokens = 0;
  test_statistic stat;
};

// The verdict of a list of entries (in corpus order) under `null`: shared by one pass
// (corpus_accumulator::verdict) and by merged shards, so that both give the same record.
// ids[i] is entry i's id.
TRACEMARK_EXPORT corpus_verdict corpus_verdict_of(std::span<const corpus_entry> entries,
                                                  std::span<const std::string> ids, int64_t n_errors,
                                                  const null_distribution& null, const corpus_options& options);

// Thread safety: not thread-safe (one writer). Keeps a copy of the scheme handle.
// Documents must be added in a fixed order (the corpus order) for a reproducible result:
// with cross-document dedup, a tuple counts for the first document that has it.
class TRACEMARK_EXPORT corpus_accumulator {
 public:
  explicit corpus_accumulator(scheme s, corpus_options options = {});
  ~corpus_accumulator();
  corpus_accumulator(corpus_accumulator&&) noexcept;
  corpus_accumulator& operator=(corpus_accumulator&&) noexcept;

  // Scores one document (first n_prompt tokens are prompt) and returns its contribution.
  document_contribution add(std::span<const int32_t> tokens, int64_t n_prompt, std::string id);
  // Continues the last document with its next piece (a document too long to hold in memory
  // at once): the first n_context tokens are context only (the previous piece's last h
  // tokens, and any prompt), never scored nor counted as tokens. The document stays one
  // entry. Returns its contribution so far. errc::invalid_argument when there is no document.
  document_contribution extend(std::span<const int32_t> tokens, int64_t n_context);
  // A document that could not be scored: it takes a document number, and counts as an error.
  void add_error();
  // Begins this shard inside a document that the previous shard started: later extend()
  // calls add to it, and merging joins it to that shard's last document. Only before any
  // other document (errc::invalid_argument otherwise).
  void continue_document(std::string id);

  corpus_verdict verdict() const;

  const scheme& get_scheme() const noexcept { return scheme_; }
  const corpus_options& options() const noexcept { return options_; }
  std::span<const corpus_entry> entries() const noexcept { return entries_; }
  const std::vector<std::string>& ids() const noexcept { return ids_; }
  int64_t n_errors() const noexcept { return n_errors_; }
  int64_t n_documents_numbered() const noexcept { return next_document_; }
  bool continues_document() const noexcept { return continues_; }
  // Bytes held by the deduplication set (for memory reports).
  size_t dedup_bytes() const noexcept;

 private:
  friend void save_evidence(corpus_accumulator&, const evidence_metadata&, const std::string&);
  document_contribution contribution(size_t entry) const;
  void score_into(std::span<const int32_t> tokens, int64_t n_context, size_t entry);

  scheme scheme_;
  corpus_options options_;
  std::unique_ptr<detail::tuple_owner_table> seen_;
  std::vector<corpus_entry> entries_;
  std::vector<std::string> ids_;
  int64_t n_errors_ = 0;
  int64_t next_document_ = 0;
  bool continues_ = false;
};

// EM for the two-component mixture above; exposed for tests.
struct mixture_fit {
  double marked_fraction = 0.0;
  double marked_green_rate = 0.0;
};
TRACEMARK_EXPORT mixture_fit fit_marked_mixture(std::span<const int64_t> n_scored, std::span<const int64_t> n_green,
                                                double gamma);

}  // namespace tracemark
