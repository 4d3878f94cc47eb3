// The detector of docs/SPEC.md §6 for a document that arrives in pieces (a text too long to
// hold at once): the same result as tracemark::detector::score on the concatenated
// tokens, with the context (the last h tokens) and the deduplication set carried from
// piece to piece. Memory grows with the document's distinct tuples (the deduplication set,
// and one score and position per scored tuple for the window search), not with its
// length.
//
// Thread safety: not thread-safe; one document at a time, reset() between documents. Keeps
// a copy of the scheme handle.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "tracemark/detector.h"
#include "tracemark/export.h"
#include "tracemark/scheme.h"
#include "tracemark/tuple_set.h"

namespace tracemark {

class TRACEMARK_EXPORT stream_detector {
 public:
  explicit stream_detector(scheme s, detect_options options = {});

  // Starts a new document.
  void reset();
  // Prompt tokens: context only, never scored. Only before the first add() of a document
  // (errc::invalid_argument otherwise).
  void add_prompt(std::span<const int32_t> tokens);
  // The next tokens of the document.
  void add(std::span<const int32_t> tokens);
  // Statistics of everything added since reset(); positions count the prompt.
  detection finish() const;

  int64_t n_prompt() const noexcept { return n_prompt_; }
  // The last min(h, tokens so far) tokens: the context the next token sees.
  std::span<const int32_t> context() const noexcept { return {context_.data(), context_.size()}; }

 private:
  void push_context(std::span<const int32_t> tokens);

  scheme scheme_;
  detect_options options_;
  tuple_set seen_;
  std::vector<int32_t> context_;  // at most h tokens, oldest first
  std::vector<int32_t> buffer_;   // context + the piece being scored
  int64_t position_ = 0, n_prompt_ = 0;
  bool body_started_ = false;
  detection d_;
  test_statistic stat_;
  std::vector<double> scores_;      // per scored tuple, for the window search
  std::vector<int64_t> positions_;  // per scored tuple
};

}  // namespace tracemark
