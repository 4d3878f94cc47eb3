// JSON Lines for `tracemark detect`: validating token records,
// and writing result / error records (format in docs/CLI.md).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tracemark/detector.h"

namespace tracemark::cli {

// Writing the output failed. Exit code 4.
class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One input line, validated: {"id": scalar, "tokens": [ints], "prompt": [ints]}.
struct token_record {
  nlohmann::json id;            // echoed; null when absent, not a scalar, or the line is unreadable
  std::vector<int32_t> tokens;  // the prompt (if any) followed by the tokens to score
  int64_t n_prompt = 0;
  std::string error;            // non-empty: the line is an error record with this message
};

// Parses and validates one line against a vocabulary of `vocab_size` ids. Never
// throws for bad input: problems end up in out.error. `out` is reused (no reallocation).
void parse_token_record(std::string_view line, int32_t vocab_size, token_record& out);

// What detect reports for one line.
struct record_result {
  nlohmann::json id;
  int64_t line = 0;            // 1-based input line number
  std::string error;           // non-empty: error record
  int64_t n_tokens = 0;        // length of "tokens" (prompt excluded)
  int64_t n_prompt = 0;        // length of "prompt"
  detection det;               // valid when error is empty; positions count the prompt
  bool watermarked = false;    // p <= alpha
  std::string trace;           // one token_mark_letter per element of "tokens", when asked for
  // Text input only (not written for token-id input):
  std::string file;            // the input file, when there are several; empty: not written
  int64_t bytes = -1;          // document text bytes (after BOM/CR removal); -1: not written
  int64_t pieces = 1;          // written when > 1: the document was tokenized in pieces
  int64_t replaced = 0;        // written when > 0: invalid UTF-8 subparts replaced by U+FFFD
};

// A number for JSON output; NaN and infinities (which JSON lacks) become null.
nlohmann::json finite_or_null(double x);

// The statistics fields of a result record (docs/CLI.md), from "tokens" to "window", in
// their documented order; shared by detect's records and the server's /v1/detect.
// n_tokens excludes the prompt; window positions are made relative to the tokens after it.
void put_detection_fields(nlohmann::ordered_json& j, const detection& d, int64_t n_tokens, int64_t n_prompt,
                          bool watermarked, double alpha);

// The output record as one line of JSON, without the newline.
std::string to_json_line(const record_result& r, double alpha, bool with_trace);

// A JSON value for display in messages and tables (strings unquoted).
std::string display_id(const nlohmann::json& id);

}  // namespace tracemark::cli
