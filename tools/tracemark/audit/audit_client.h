// The black-box side of `tracemark audit --suspect-url`: completions from an
// OpenAI-compatible server (POST {base}/v1/completions), with a concurrency limit,
// retries with exponential backoff on transient failures (connection errors, timeouts,
// HTTP 408/429/5xx), socket timeouts, and an append-only on-disk cache so that an
// interrupted audit resumes without asking the suspect again.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tracemark::cli {

struct completion_params {
  int32_t max_tokens = 256;
  double temperature = 1.0;
  double top_p = 1.0;
  std::string model;  // sent as "model" when not empty
  // >= 0: ask for "logprobs": k (the green-mass statistic); the answer must carry them.
  int32_t logprobs = -1;
  // Send "return_tokens": true (tracemark serve's extension: token ids in the answer).
  bool return_tokens = false;
};

struct completion_job {
  std::string prompt;
  uint64_t seed = 0;  // sent as "seed": completion k of a prompt uses --seed + k
};

struct client_options {
  std::string base_url;       // http://host:port[/prefix]
  std::string api_key;        // sent as "Authorization: Bearer ..."; never logged, never cached
  int concurrency = 4;        // requests in flight at most
  int max_attempts = 6;       // per request, the first included
  double timeout_s = 60.0;    // connect, read and write timeouts of each request
  double backoff_initial_s = 0.5;  // delay before the second attempt; doubles each time
  double backoff_max_s = 30.0;
};

// The on-disk cache: one JSON object per line, {"request": {...}, "text": "...",
// "completion_tokens": n|null}, plus "logprobs" (the choice's object) and
// "prompt_token_ids" when the answer had them. The request holds the URL, the prompt, the
// sampling parameters, the seed and, when asked for, "logprobs" and "return_tokens" (not
// the API key); identical requests are answered from here. A torn last line (an
// interrupted write) is ignored.
class completion_cache {
 public:
  // Loads `path` if it exists; an empty path disables the cache.
  explicit completion_cache(std::string path);
  struct entry {
    std::string text;
    std::optional<int64_t> completion_tokens;
    nlohmann::json logprobs;                // the choice's "logprobs" object, or null
    std::vector<int32_t> prompt_token_ids;  // the choice's "prompt_token_ids" (return_tokens), or empty
  };
  std::optional<entry> find(const std::string& request_key) const;
  // Appends and flushes one line (thread-safe). Throws std::runtime_error on a write failure.
  void store(const std::string& request_key, const nlohmann::json& request, const entry& e);
  const std::string& path() const { return path_; }
  size_t size() const;
  int64_t ignored_lines() const { return ignored_lines_; }

 private:
  std::string path_;
  mutable std::mutex mutex_;
  std::map<std::string, entry> entries_;
  int64_t ignored_lines_ = 0;
  bool need_newline_ = false;  // the file ends without a newline (torn line)
};

// The canonical request object (the cache key is its compact dump).
nlohmann::json completion_request(const std::string& base_url, const completion_job& job, const completion_params& p);

struct fetch_stats {
  int64_t queries = 0;     // HTTP requests answered with a usable completion
  int64_t cache_hits = 0;
  int64_t retries = 0;     // attempts after the first
};

// A request failed for good (a permanent HTTP error, or retries exhausted).
class fetch_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using completion_result = completion_cache::entry;  // completion_tokens: from "usage" when reported

// Fetches one completion per job (cache first), `concurrency` at a time, in any order;
// results are returned in job order. With p.logprobs >= 0 an answer without a "logprobs"
// object is a permanent error (the suspect does not return them). On a permanent failure, requests in flight finish
// (and are cached), no new ones start, and fetch_error is thrown. Throws std::invalid_argument
// for a malformed base URL.
std::vector<completion_result> fetch_completions(const std::vector<completion_job>& jobs, const completion_params& p,
                                                 const client_options& o, completion_cache& cache, fetch_stats& stats);

}  // namespace tracemark::cli
