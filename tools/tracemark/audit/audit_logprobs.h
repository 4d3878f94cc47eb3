// The suspect's returned log-probabilities, read for the green-mass statistic
// (docs/AUDIT_DESIGN.md §9). Both OpenAI shapes: a /v1/completions choice's
// {"tokens", "token_logprobs", "top_logprobs", ...} and a chat choice's {"content": [...]}.
// Token ids come, in this order of preference, from tracemark serve's extension
// (return_tokens: "token_ids" / "top_logprobs_ids", or "id" in chat entries), from vLLM's
// "token_id:N" strings (return_tokens_as_token_ids), or from the token strings mapped with
// the provider's vocabulary (token_string_map).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tracemark/audit.h"
#include "tracemark/llama/tokenizer.h"

namespace tracemark::cli {

// One completion's returned distributions.
struct returned_distributions {
  std::vector<int32_t> tokens;                      // the generated tokens' ids, in order
  std::vector<std::vector<token_probability>> top;  // per generated token: the returned alternatives,
                                                    // p = exp(logprob), as listed by the server
};

// Token strings to ids. A string maps to the token whose text (special tokens as their
// text, e.g. "</s>") it is. When several tokens share the text, byte-fallback tokens
// (SentencePiece <0xNN>) give way to the one normal token; anything else is ambiguous.
// Thread safety: immutable after construction.
class token_string_map {
 public:
  explicit token_string_map(const llama_tokenizer& vocab);
  // The id of a token's bytes; throws audit_input_error naming the string and `where`
  // when no token or several have these bytes.
  int32_t id(const std::string& bytes, const std::string& where) const;

 private:
  std::unordered_map<std::string, std::vector<int32_t>> ids_;  // text -> normal tokens first, then byte tokens
  std::unordered_map<std::string, size_t> normal_;             // text -> how many normal tokens have it
};

// The bytes of a returned token string: "bytes:\xe2\x80" (OpenAI's form for a token that
// ends inside a character) decoded; anything else as is.
std::string token_string_bytes(std::string_view s);

// Reads a choice's "logprobs" object (either shape). Without ids in it, `vocab` maps the
// token strings; null `vocab` then is an error. Throws audit_input_error (usage, exit 2)
// with `where` in the message when the object is malformed, ids are out of [0,
// vocab_size), or a string cannot be mapped.
returned_distributions read_returned_distributions(const nlohmann::json& logprobs, const token_string_map* vocab,
                                                   int32_t vocab_size, const std::string& where);

// One completion ready for audit_accumulator::add_distributions.
struct distribution_document {
  std::string id;
  std::vector<int32_t> tokens;  // the prompt's tokens, then the generated ids of the logprobs
  int64_t n_prompt = 0;
  std::vector<std::vector<token_probability>> top;  // one per generated token
};

// A completion from its prompt tokens and its choice's "logprobs" (as above); the prompt
// ids must lie in [0, vocab_size).
distribution_document distribution_document_of(std::vector<int32_t> prompt_tokens, const nlohmann::json& logprobs,
                                               const token_string_map* vocab, int32_t vocab_size, std::string id);

// Every document into the accumulator: all prompts first (the prompt filter is global,
// docs/AUDIT_DESIGN.md §3.2), then the distributions.
void add_distribution_documents(audit_accumulator& acc, const std::vector<distribution_document>& docs);

}  // namespace tracemark::cli
