// Inputs of `tracemark audit` and `tracemark index`: JSON Lines of token records or text
// records (the output format of `tracemark generate`, and the dump format of
// --suspect-outputs), and prompt files.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "common/scheme_options.h"
#include "tracemark/llama/tokenizer.h"
#include "tracemark/key.h"
#include "tracemark/scheme.h"

namespace tracemark::cli {

// One text with its prompt: tokens = prompt tokens (n_prompt of them) then the
// completion's tokens.
struct audit_document {
  std::string id;              // "id" of the record when present, else "<file>:<line>"
  std::string prompt;          // prompt text when the record has one (for --suspect-url jobs)
  std::vector<int32_t> tokens;
  int64_t n_prompt = 0;
  int watermarked = -1;         // the record's "watermarked" flag: 1, 0, or -1 when absent
  std::string key_fingerprint;  // the record's "key_fingerprint", when present
  bool token_ids = false;       // the record gave token ids ("tokens"), not text
  nlohmann::json logprobs;      // the record's "logprobs" object (green mass), or null
};

// A record could not be used; the message names the file and line. Exit code 2 (usage:
// the input does not fit the flags) unless `io` (unreadable file, exit 4).
class audit_input_error : public std::runtime_error {
 public:
  audit_input_error(bool io_error, const std::string& message) : std::runtime_error(message), io(io_error) {}
  bool io;
};

struct read_stats {
  int64_t records = 0;         // documents returned
  int64_t error_records = 0;   // {"error": ...} records (failed generations) skipped
  int64_t empty_answers = 0;   // records whose completion is empty (the model stopped at once)
  int64_t blank_lines = 0;
};

// Reads one JSON object per line. A record is either
//   {"tokens": [ids], "prompt_tokens": [ids]?}              token ids (prompt optional), or
//   {"text": "...", "prompt": "..."?}                       text, tokenized with `vocab`
// plus optional "id" and "logprobs" (a completion choice's object, for the green-mass
// statistic). Records with an "error" field are skipped and counted. An empty completion
// ("tokens": [] or blank "text") is a model's legitimate answer with nothing to score: it is
// counted, and kept with its prompt ids when it gave them (the prompt filter needs them). With a
// prompt, text is tokenized as the model saw it: tokenize(prompt + text) with BOS when the
// vocabulary adds one, the prompt being the leading tokens that tokenize(prompt) gives
// (SentencePiece would otherwise add a space token at the start of the text).
// Token ids must lie in [0, vocab_size). `vocab` may be null when every record has tokens.
std::vector<audit_document> read_documents(const std::string& path, const llama_tokenizer* vocab,
                                           int32_t vocab_size, read_stats& stats);

// The provider's tokenizer (when `vocab_path` is not empty) and the scheme of the scheme
// flags under `master`: --vocab-size must agree with the tokenizer, and one of the two is
// needed. Throws usage_error (flags) or tracemark::error (the tokenizer could not be loaded;
// errc::io when unreadable).
struct provider_scheme {
  std::unique_ptr<llama_tokenizer> tokenizer;  // null without vocab_path
  scheme_config config;
  std::optional<tracemark::scheme> scheme;     // always set on return
};
provider_scheme load_provider_scheme(const key& master, const std::string& vocab_path, const scheme_options& flags);

// Tokenizes prompt + text as above (used for --suspect-url completions).
audit_document tokenize_document(const llama_tokenizer& vocab, std::string_view prompt, std::string_view text,
                                 std::string id);

// A prompt file: one prompt per line; a line starting with '{' is a JSON object whose
// "prompt" string is the prompt (for prompts with newlines). Empty lines are skipped.
std::vector<std::string> read_prompts(const std::string& path);

}  // namespace tracemark::cli
