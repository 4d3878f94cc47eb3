// The log-probability objects of `tracemark serve`'s answers, in OpenAI's shapes
// (docs/SERVER.md, "Log-probabilities"), from the engine's per-token log-probabilities
// (generation_params::logprobs: the model's own distribution at temperature 1, before the
// watermark and every sampler). No HTTP in here.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "tracemark/llama/engine.h"
#include "tracemark/llama/tokenizer.h"

namespace tracemark::cli {

// The most likely tokens a request may ask for per position (OpenAI's chat limit; legacy
// completions allow 5 there, vLLM more).
constexpr int32_t max_logprobs = 20;

// A token's text as OpenAI writes it: the piece when it is valid UTF-8, else
// "bytes:\xe2\x80" (the bytes as \x escapes; a token that ends inside a character).
// Token strings and chat "bytes" show special tokens as their text ("</s>"), as OpenAI
// shows "<|endoftext|>"; text_offset counts the text as "text" holds it.
std::string token_string(std::string_view piece);

// /v1/completions: {"tokens": [str], "token_logprobs": [float], "top_logprobs": [{str: float}],
// "text_offset": [int]} for some consecutive generated tokens. Each top_logprobs object holds
// the k most likely tokens and the generated one (OpenAI: up to k + 1 entries; a string that
// two tokens share keeps the more likely). text_offset counts Unicode characters (UTF-8 lead
// bytes) of the completion's text from its start; `offset` is the count before the first of
// these tokens and is advanced past them. With `with_ids` (the return_tokens extension):
// "token_ids": [int] and "top_logprobs_ids": [[{"id", "logprob"}]], the entries of
// top_logprobs by token id, none merged.
nlohmann::ordered_json completion_logprobs(const llama_tokenizer& tok, std::span<const position_logprobs> lps,
                                           int64_t& offset, bool with_ids);

// /v1/chat/completions: {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token",
// "logprob", "bytes"}]}], "refusal": null}; top_logprobs holds exactly the k most likely.
// With `with_ids`: an "id" next to every "token".
nlohmann::ordered_json chat_logprobs(const llama_tokenizer& tok, std::span<const position_logprobs> lps,
                                     bool with_ids);

}  // namespace tracemark::cli
