// Corpus verdict (issue 3): one exact test over all documents of a corpus, with tuples
// deduplicated across documents, an estimate of the marked fraction, and the documents
// that carry the most evidence.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tracemark/detector.h"
#include "tracemark/export.h"
#include "tracemark/scheme.h"
#include "tracemark/tuple_set.h"

namespace tracemark {

struct corpus_options {
  bool dedup = true;         // each distinct (seed, token) tuple counts once in the whole corpus
  size_t n_top_documents = 10;
};

// What one document added to the corpus test: only tuples new to the corpus count.
struct document_contribution {
  int64_t index = 0;  // position in the corpus, 0-based
  std::string id;
  int64_t n_scored = 0;
  int64_t n_green = 0;
  double log10_p = 0.0;  // of this contribution alone
};

inline constexpr double marked_fraction_min_log10_p = -3.0;

struct corpus_verdict {
  int64_t n_documents = 0;
  int64_t n_tokens = 0;
  int64_t n_scored = 0;  // distinct tuples in the whole corpus
  int64_t n_green = 0;
  double gamma = 0.0;
  double z = 0.0;
  double log10_p = 0.0;  // P[Binomial(n_scored, gamma) >= n_green]
  // Two-component binomial mixture fitted by EM over documents: a fraction
  // `marked_fraction` of documents has green rate `marked_green_rate` > gamma, the
  // rest gamma. An estimate, not part of the test; 0 (and gamma) unless the corpus
  // test itself has log10_p <= marked_fraction_min_log10_p.
  double marked_fraction = 0.0;
  double marked_green_rate = 0.0;
  std::vector<document_contribution> top_documents;  // smallest log10_p first
};

// Documents must be added in a fixed order (the corpus order) for a reproducible
// result: with cross-document dedup, a tuple counts for the first document that has it.
class TRACEMARK_EXPORT corpus_accumulator {
 public:
  explicit corpus_accumulator(const scheme& s, corpus_options options = {});

  // Scores one document (first n_prompt tokens are prompt) and returns its contribution.
  document_contribution add(std::span<const int32_t> tokens, int64_t n_prompt, std::string id);
  // Continues the last added document with its next piece (a document too long to hold in
  // memory at once): the first n_context tokens are context only (the previous piece's
  // last h tokens, and any prompt), never scored nor counted as tokens. The document stays
  // one entry (one index, one contribution). Returns its contribution so far.
  // errc::invalid_argument when no document was added yet.
  document_contribution extend(std::span<const int32_t> tokens, int64_t n_context);
  corpus_verdict verdict() const;

 private:
  const scheme& scheme_;
  corpus_options options_;
  tuple_set seen_;
  struct counts {
    int64_t n_scored, n_green;
  };
  std::vector<counts> per_document_;
  std::vector<document_contribution> top_;  // kept sorted, at most n_top_documents
  std::string last_id_;                     // of the last added document (for extend)

  void rank(const document_contribution& c);
  int64_t n_tokens_ = 0, n_scored_ = 0, n_green_ = 0;
};

// EM for the two-component mixture above; exposed for tests.
struct mixture_fit {
  double marked_fraction = 0.0;
  double marked_green_rate = 0.0;
};
TRACEMARK_EXPORT mixture_fit fit_marked_mixture(std::span<const int64_t> n_scored, std::span<const int64_t> n_green,
                                                double gamma);

}  // namespace tracemark
