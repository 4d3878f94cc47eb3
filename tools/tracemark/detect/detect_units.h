// The per-unit work of `tracemark detect`, run on the worker threads: parse and score a
// line of token ids, or tokenize (and, for a document in one piece, score) a text unit.
// Everything that must happen in input order (documents in pieces, the corpus, output) is
// in detect_pipeline.cpp.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/records.h"
#include "detect/detect_run.h"
#include "detect/input_reader.h"
#include "tracemark/detector.h"
#include "tracemark/tuple_set.h"

namespace tracemark::cli {

enum class outcome : uint8_t { not_watermarked, watermarked, error };

// One document's result, as the table and the record writer need it.
struct document_result {
  nlohmann::json id;
  std::string file;              // when there are several inputs
  int64_t line = 0;
  std::string error;             // non-empty: error record
  int64_t bytes = -1;            // text input: document bytes
  int64_t pieces = 1;
  int64_t replaced = 0;
  int64_t n_prompt = 0;
  detection det;
  std::optional<attribution_result> attribution;
  std::vector<int32_t> tokens;   // kept for the report only: prompt tokens, then the document's

  // For people (the table's counts): with --accounts, marked by any account tried.
  outcome kind(double alpha) const {
    if (!error.empty()) return outcome::error;
    const bool marked = attribution ? attribution->significant(alpha) : det.test.significant(alpha);
    return marked ? outcome::watermarked : outcome::not_watermarked;
  }
};

// The record (table row or JSON line, newline included).
std::string render(const detect_run& run, const document_result& r);

// Per worker thread.
struct worker_scratch {
  token_record record;
  tuple_set seen{1024};
};

// What a worker hands back for one unit.
struct unit_result {
  std::string text;               // the rendered record; empty: none (yet)
  outcome kind = outcome::error;
  std::string error;              // text: tokenization or scoring failed
  std::vector<int32_t> tokens;    // prompt tokens, then the unit's tokens (when needed later)
  int64_t n_prompt = 0;
  nlohmann::json id;              // tokens mode: the parsed id (for the corpus)
  std::optional<document_result> kept;  // for the report: the scored document
};

// Token-id JSON Lines: parse, validate and score one line.
void process_token_line(const detect_run& run, const unit& u, const std::string& file, worker_scratch& w,
                        unit_result& out);
// Text: tokenize one unit (one piece of a document); a document in one piece is also
// scored here, in parallel.
void process_text_unit(const detect_run& run, const unit& u, const std::string& file, worker_scratch& w,
                       unit_result& out);

// Fills what every scored document gets: the attribution over --accounts, when asked for.
void finish_document(const detect_run& run, std::span<const int32_t> tokens, document_result& r);

}  // namespace tracemark::cli
