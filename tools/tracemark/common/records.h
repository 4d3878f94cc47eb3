// The token-record schema shared by every command that reads or writes token ids
// (docs/CLI.md "Token records"): `generate` writes it, `detect`, `audit` and `index` read
// it, and the server's completion choices carry the same fields.
//
//   {"id": <JSON scalar>, "tokens": [ids], "prompt_tokens": [ids], "text": "...", "prompt": "..."}
//
// "tokens" are the ids to score; "prompt_tokens" (optional) the ids that preceded them
// (context only, never scored). "text"/"prompt" are the same as text and are ignored when
// reading token ids. For compatibility, "prompt" may itself be an array of ids (then
// "prompt_tokens" must be absent). A record with an "error" field (a failed generation)
// is an error record.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace tracemark::cli {

struct token_record {
  nlohmann::json id;            // echoed; null when absent, not a scalar, or the line is unreadable
  std::vector<int32_t> tokens;  // the prompt (if any) followed by the tokens to score
  int64_t n_prompt = 0;
  std::string error;            // non-empty: the line is an error record with this message
};

// Parses and validates one line against a vocabulary of `vocab_size` ids. Never throws for
// bad input: problems end up in out.error. `out` is reused (no reallocation).
void parse_token_record(std::string_view line, int32_t vocab_size, token_record& out);
// The same for an already parsed object; `what` names it in messages ("the line"). With
// `allow_empty`, an empty "tokens" array is accepted (a model's empty answer: its prompt only).
void read_token_record(const nlohmann::json& doc, int32_t vocab_size, token_record& out, bool allow_empty = false);

// A JSON value for display in messages and tables (strings unquoted).
std::string display_id(const nlohmann::json& id);

}  // namespace tracemark::cli
