// Request parsing and response shapes of `tracemark serve` (OpenAI-compatible
// completions and chat completions, and the detection endpoint). No HTTP in here.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tracemark/detector.h"
#include "tracemark/llama/chat_template.h"
#include "tracemark/llama/engine.h"

namespace tracemark::cli {

// A request the server refuses: HTTP status, OpenAI-style error body.
class api_error : public std::runtime_error {
 public:
  api_error(int http_status, std::string message, std::string field = {}, std::string error_code = {})
      : std::runtime_error(std::move(message)),
        status(http_status),
        param(std::move(field)),
        code(std::move(error_code)) {}
  int status;
  std::string param;  // the offending field, or empty
  std::string code;   // e.g. "invalid_api_key"; empty: derived from the status
};

// {"error": {"message", "type", "param", "code"}} for a status.
nlohmann::ordered_json error_body(int status, const std::string& message, const std::string& param = {},
                                  const std::string& code = {});

struct completion_request {
  bool chat = false;
  std::vector<std::string> prompts;   // /v1/completions: one or more prompts
  std::vector<chat_message> messages; // /v1/chat/completions
  generation_params gen;              // max_tokens, temperature, top_p, top_k, seed
  bool seed_given = false;
  bool max_tokens_given = false;
  int32_t n = 1;                      // completions per prompt; completion i uses seed + i
  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage
  bool return_tokens = false;         // extension: token ids in each choice (and in logprobs)
  // -1: no log-probabilities; k >= 0: each token's log-probability and the k most likely
  // (completions: "logprobs": k; chat: "logprobs": true with "top_logprobs": k, default 0).
  int32_t logprobs = -1;
};

// Limits of a request.
constexpr int32_t max_n = 16;           // n
constexpr size_t max_prompts = 16;      // prompts in one /v1/completions request
constexpr int32_t max_choices = 16;     // prompts x n

// Parses and validates a body; throws api_error{400} naming the field. n_ctx bounds max_tokens.
completion_request parse_completion_request(const std::string& body, bool chat, int32_t n_ctx);

// The longest prefix of `s` that does not end inside a UTF-8 multi-byte sequence.
size_t utf8_complete_prefix(std::string_view s);

// A random id such as "cmpl-3f9a..." (24 hex digits).
std::string random_id(const char* prefix);

}  // namespace tracemark::cli
