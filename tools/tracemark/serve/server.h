// `tracemark serve`: an OpenAI-compatible HTTP server for one GGUF model whose completions
// are watermarked with a per-account sub-key (docs/SERVER.md). The flags and process
// handling are in cmd_serve.cpp, the routes and completions in server.cpp, /v1/detect in
// server_detect.cpp.
//
// Threads: cpp-httplib's pool runs each connection on one thread; a completion holds one
// llama.cpp session from the pool (server_pool.h) while it generates, on that thread,
// including while it streams. Detection needs no session. One `server` is shared by all
// connection threads: its members are immutable after construction except the pool, which
// is internally synchronised.
#pragma once
#include <httplib.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/server_config.h"
#include "serve/server_openai.h"
#include "serve/server_pool.h"
#include "tracemark/attribution.h"
#include "tracemark/key.h"
#include "tracemark/llama/chat_template.h"
#include "tracemark/llama/engine.h"
#include "tracemark/watermarker.h"

namespace tracemark::cli {

struct serve_flags {
  std::string model_path;
  std::string config_path;
  std::string host = "127.0.0.1";
  int port = 8080;
  int32_t workers = 1;
  int32_t queue = 16;
  double queue_timeout = 30.0;
  int32_t n_ctx = 0;
  std::string flash_attn = "auto";
  int64_t max_body = int64_t{1} << 20;
  int32_t http_threads = 0;
};

// One line on standard error, whole (a mutex keeps lines from interleaving).
void log_line(const std::string& line);
// Printable, bounded: paths and account ids come from clients or configs.
std::string sanitize(std::string_view s, size_t max = 200);
// Who made the current request (for the log line): set by authenticate().
void set_request_principal(const std::string& label);
// Tokens of the current request (for the log line).
void set_request_tokens(int64_t tokens);

void send_json(httplib::Response& res, int status, const nlohmann::ordered_json& body);
void send_error(httplib::Response& res, const api_error& e);

struct account_keys {
  std::unique_ptr<watermarker> mark;  // for completions, when watermarking is on
};

class server {
 public:
  server(const serve_flags& f, server_config cfg, std::optional<key> master);

  int run();
  void stop() { http_.stop(); }

 private:
  void routes();
  principal authenticate(const httplib::Request& req) const;
  void completions(const httplib::Request& req, httplib::Response& res, bool chat);
  void detect(const httplib::Request& req, httplib::Response& res);
  void health(httplib::Response& res) const;
  std::vector<int32_t> prompt_tokens(const completion_request& r, size_t i) const;
  std::string describe_scheme(const std::string& account) const {
    return scheme_description(cfg_.scheme_for(account, vocab_));
  }

  serve_flags flags_;
  server_config cfg_;
  std::optional<key> master_;
  llama_engine engine_;
  chat_template chat_;
  int32_t n_ctx_ = 0;
  int32_t vocab_ = 0;
  std::string model_name_;
  std::map<std::string, account_keys> accounts_;
  // /v1/detect: the master sub-key ("") and every configured account, derived once.
  std::optional<attributor> detectors_;
  std::unique_ptr<session_pool> pool_;
  httplib::Server http_;
};

}  // namespace tracemark::cli
