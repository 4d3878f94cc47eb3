// JSON Lines for `tracemark detect`: reading input lines, validating token records,
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

// Reading the input failed (not: a line was malformed). Exit code 4.
class io_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Splits a file descriptor into lines. A final line without '\n' still counts; a
// trailing '\r' is removed (CRLF files). Owns no descriptor.
class line_reader {
 public:
  // Lines longer than this are not kept in memory: next() reports them as too long.
  static constexpr size_t default_max_line_bytes = size_t{256} << 20;

  explicit line_reader(int fd, std::string name, size_t max_line_bytes = default_max_line_bytes);
  // The next line into `line`; false at end of input. A line longer than the limit is
  // consumed up to its newline and returned empty with `too_long` set. Throws io_error
  // on read errors.
  bool next(std::string& line, bool& too_long);
  // True when next() will return without waiting on the descriptor (a whole line, or
  // the end of input, is already buffered). Callers flush their output before waiting.
  bool line_ready() const noexcept;

 private:
  bool fill();
  int fd_;
  std::string name_;
  size_t max_line_;
  std::vector<char> buf_;
  size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
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
};

// The output record as one line of JSON, without the newline.
std::string to_json_line(const record_result& r, double alpha, bool with_trace);

// A JSON value for display in messages and tables (strings unquoted).
std::string display_id(const nlohmann::json& id);

}  // namespace tracemark::cli
