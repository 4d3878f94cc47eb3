// The routes, completions and process of `tracemark serve` (server.h).
#include "serve/server.h"

#include <sys/socket.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>
#include <sstream>

#include "common/cli.h"
#include "common/flash_attention_option.h"
#include "serve/server_logprobs.h"
#include "tracemark/error.h"

namespace tracemark::cli {

using nlohmann::json;
using nlohmann::ordered_json;
using clock_type = std::chrono::steady_clock;

// --- the per-request log line -----------------------------------------------------------

namespace {

struct request_log {
  clock_type::time_point start{};
  bool started = false;
  std::string who = "-";
  int64_t tokens = 0;
};
thread_local request_log tl_log;  // one request at a time per httplib thread
std::mutex log_mutex;

}  // namespace

void log_line(const std::string& line) {
  std::lock_guard lock(log_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

namespace {

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace

std::string sanitize(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return out;
}

server::server(const serve_flags& f, server_config cfg, std::optional<key> master)
    : flags_(f), cfg_(std::move(cfg)), master_(std::move(master)), engine_(f.model_path), chat_(f.model_path) {
  const int32_t train = engine_.n_ctx_train();
  n_ctx_ = f.n_ctx > 0 ? f.n_ctx : std::min<int32_t>(train > 0 ? train : 2048, 4096);
  model_name_ = cfg_.model_name.empty() ? std::filesystem::path(f.model_path).stem().string() : cfg_.model_name;
  vocab_ = engine_.n_vocab();
  if (master_) {
    // Every sub-key is derived once, here (docs/SPEC.md §2): the master ("") and each account.
    std::vector<std::string> tried{""};
    tried.insert(tried.end(), cfg_.accounts.begin(), cfg_.accounts.end());
    detectors_.emplace(*master_, cfg_.scheme_for("", vocab_), tried);
    if (cfg_.watermark)
      for (const std::string& a : cfg_.accounts)
        accounts_[a].mark = std::make_unique<watermarker>(*master_, cfg_.scheme_for(a, vocab_), cfg_.delta);
  }
  pool_ = std::make_unique<session_pool>(engine_, f.workers, f.queue, n_ctx_, flash_attention_from(f.flash_attn));
}

void set_request_principal(const std::string& label) { tl_log.who = sanitize(label); }
void set_request_tokens(int64_t tokens) { tl_log.tokens = tokens; }

void send_json(httplib::Response& res, int status, const ordered_json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, const api_error& e) {
  send_json(res, e.status, error_body(e.status, e.what(), e.param, e.code));
  if (e.status == 503 || e.status == 429) res.set_header("Retry-After", "1");
  if (e.status == 401) res.set_header("WWW-Authenticate", "Bearer");
}

principal server::authenticate(const httplib::Request& req) const {
  const std::string h = req.get_header_value("Authorization");
  if (h.empty())
    throw api_error(401, "missing API key: send the header 'Authorization: Bearer <key>'", {}, "missing_api_key");
  constexpr std::string_view scheme_name = "bearer ";
  bool is_bearer = h.size() > scheme_name.size();
  for (size_t i = 0; is_bearer && i < scheme_name.size(); ++i)
    is_bearer = std::tolower(static_cast<unsigned char>(h[i])) == scheme_name[i];
  if (!is_bearer) throw api_error(401, "the Authorization header must be 'Bearer <key>'");
  std::string_view token = std::string_view(h).substr(scheme_name.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  std::optional<principal> who = cfg_.authenticate(token);
  if (!who) throw api_error(401, "invalid API key");  // never echo the key
  set_request_principal(who->label);
  return *who;
}

std::vector<int32_t> server::prompt_tokens(const completion_request& r, size_t i) const {
  const llama_tokenizer& tok = engine_.tokenizer();
  std::vector<int32_t> t;
  if (r.chat) {
    bool parse_special = false;
    const std::string text = chat_.render(r.messages, parse_special);
    t = parse_special ? tok.tokenize_special(text, /*add_special=*/true) : tok.tokenize(text, /*add_special=*/true);
    // A template that writes the BOS text itself would otherwise get two.
    if (t.size() >= 2 && tok.bos() >= 0 && t[0] == tok.bos() && t[1] == tok.bos()) t.erase(t.begin());
  } else {
    t = tok.tokenize(r.prompts[i], /*add_special=*/true);
  }
  const char* param = r.chat ? "messages" : "prompt";
  if (t.empty()) throw api_error(400, std::string(param) + ": the prompt is empty (no tokens)", param);
  if (static_cast<int64_t>(t.size()) + 1 > n_ctx_)
    throw api_error(400,
                    std::string(param) + ": the prompt has " + std::to_string(t.size()) +
                        " tokens; the context holds " + std::to_string(n_ctx_) + " (prompt and completion)",
                    param, "context_length_exceeded");
  return t;
}

// One streamed request: owns its session lease until the response is finished.
struct stream_job {
  session_pool::lease lease;
  completion_request req;
  std::vector<std::vector<int32_t>> prompts;
  const watermarker* wm = nullptr;
  const llama_tokenizer* tok = nullptr;  // for the log-probabilities' token strings
  std::string id, model;
  int64_t created = 0;

  bool write(httplib::DataSink& sink, const ordered_json& chunk) const {
    const std::string s = "data: " + chunk.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
    return sink.write(s.data(), s.size());
  }

  ordered_json chunk_base() const {
    ordered_json c;
    c["id"] = id;
    c["object"] = req.chat ? "chat.completion.chunk" : "text_completion";
    c["created"] = created;
    c["model"] = model;
    return c;
  }

  ordered_json choice(int32_t index, const std::string& text, const char* finish, bool first,
                      ordered_json logprobs = nullptr) const {
    ordered_json ch;
    ch["index"] = index;
    if (req.chat) {
      ordered_json delta = ordered_json::object();
      if (first) delta["role"] = "assistant";
      if (first || !text.empty()) delta["content"] = text;
      ch["delta"] = std::move(delta);
    } else {
      ch["text"] = text;
    }
    ch["logprobs"] = std::move(logprobs);
    ch["finish_reason"] = finish ? ordered_json(finish) : ordered_json(nullptr);
    return ch;
  }

  void run(httplib::DataSink& sink) {
    int64_t prompt_total = 0, completion_total = 0;
    bool open = true;
    try {
      int32_t index = 0;
      for (size_t p = 0; p < prompts.size() && open; ++p) {
        prompt_total += static_cast<int64_t>(prompts[p].size());
        for (int32_t k = 0; k < req.n && open; ++k, ++index) {
          generation_params g = req.gen;
          g.seed = req.gen.seed + static_cast<uint32_t>(k);
          if (req.chat) {  // the role comes first, in a chunk of its own (as OpenAI does)
            ordered_json c = chunk_base();
            c["choices"] = ordered_json::array({choice(index, "", nullptr, true)});
            open = write(sink, c);
          }
          std::string pending;  // bytes of an unfinished UTF-8 character
          std::vector<position_logprobs> pending_lp;  // the log-probabilities of the tokens not yet sent
          int64_t offset = 0;                         // characters of the choice's text sent so far
          auto logprobs_of_pending = [&]() -> ordered_json {
            if (req.logprobs < 0 || pending_lp.empty()) return nullptr;
            ordered_json lp = req.chat ? chat_logprobs(*tok, pending_lp, req.return_tokens)
                                       : completion_logprobs(*tok, pending_lp, offset, req.return_tokens);
            pending_lp.clear();
            return lp;
          };
          const generation_result r = lease.session().generate_tokens(
              prompts[p], g, wm, [&](int32_t, std::string_view piece, const position_logprobs* lp) {
                pending += piece;
                if (lp) pending_lp.push_back(*lp);
                const size_t n = utf8_complete_prefix(pending);
                if (n == 0) return true;
                ordered_json c = chunk_base();
                c["choices"] = ordered_json::array(
                    {choice(index, pending.substr(0, n), nullptr, false, logprobs_of_pending())});
                pending.erase(0, n);
                open = write(sink, c);
                return open;  // the client went away: stop generating
              });
          completion_total += static_cast<int64_t>(r.tokens.size());
          tl_log.tokens = prompt_total + completion_total;
          if (!open) break;
          ordered_json c = chunk_base();
          ordered_json last = choice(index, pending, r.finish_reason.c_str(), false, logprobs_of_pending());
          if (req.return_tokens) {
            last["token_ids"] = r.tokens;
            last["prompt_token_ids"] = r.prompt_tokens;
            last["tokens"] = r.tokens;  // the token-record schema of docs/CLI.md
            last["prompt_tokens"] = r.prompt_tokens;
          }
          c["choices"] = ordered_json::array({std::move(last)});
          open = write(sink, c);
        }
      }
      if (open && req.include_usage) {
        ordered_json c = chunk_base();
        c["choices"] = ordered_json::array();
        c["usage"] = {{"prompt_tokens", prompt_total},
                      {"completion_tokens", completion_total},
                      {"total_tokens", prompt_total + completion_total}};
        open = write(sink, c);
      }
    } catch (const std::exception& e) {
      if (open) {
        ordered_json err = error_body(500, std::string("generation failed: ") + e.what());
        open = write(sink, err);
      }
    }
    lease.release();  // before the last bytes: the session is free as soon as generation ends
    if (open) {
      static const std::string done = "data: [DONE]\n\n";
      sink.write(done.data(), done.size());
    }
  }
};

void server::completions(const httplib::Request& req, httplib::Response& res, bool chat) {
  const principal who = authenticate(req);
  if (!who.account)
    throw api_error(403, "this admin key has no account; completions need a key listed in api_keys", {},
                    "no_account");
  completion_request r = parse_completion_request(req.body, chat, n_ctx_);
  std::vector<std::vector<int32_t>> prompts;
  for (size_t i = 0; i < (chat ? size_t{1} : r.prompts.size()); ++i) prompts.push_back(prompt_tokens(r, i));
  if (!r.seed_given) r.gen.seed = static_cast<uint32_t>(std::random_device{}());
  const watermarker* wm = cfg_.watermark ? accounts_.at(*who.account).mark.get() : nullptr;

  session_pool::lease lease;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(flags_.queue_timeout * 1000.0));
  switch (pool_->acquire(timeout, lease)) {
    case session_pool::status::ok:
      break;
    case session_pool::status::queue_full:
      throw api_error(503,
                      "the server is busy: all " + std::to_string(pool_->workers()) + " workers are generating and " +
                          std::to_string(pool_->queue_limit()) + " requests are already waiting; retry later",
                      {}, "overloaded");
    case session_pool::status::timeout:
      throw api_error(503, "no worker became free within the queue timeout; retry later", {}, "overloaded");
  }

  const std::string id = random_id(chat ? "chatcmpl-" : "cmpl-");
  const int64_t created = static_cast<int64_t>(std::time(nullptr));

  if (r.stream) {
    auto job = std::make_shared<stream_job>();
    job->lease = std::move(lease);
    job->req = std::move(r);
    job->prompts = std::move(prompts);
    job->wm = wm;
    job->tok = &engine_.tokenizer();
    job->id = id;
    job->model = model_name_;
    job->created = created;
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [job](size_t, httplib::DataSink& sink) {
          job->run(sink);
          sink.done();
          return true;
        },
        [job](bool) { job->lease.release(); });
    return;
  }

  ordered_json choices = ordered_json::array();
  int64_t prompt_total = 0, completion_total = 0;
  int32_t index = 0;
  for (size_t p = 0; p < prompts.size(); ++p) {
    prompt_total += static_cast<int64_t>(prompts[p].size());
    for (int32_t k = 0; k < r.n; ++k, ++index) {
      generation_params g = r.gen;
      g.seed = r.gen.seed + static_cast<uint32_t>(k);
      const generation_result out = lease.session().generate_tokens(prompts[p], g, wm);
      completion_total += static_cast<int64_t>(out.tokens.size());
      ordered_json ch;
      ch["index"] = index;
      if (chat) {
        ch["message"] = {{"role", "assistant"}, {"content", out.text}};
      } else {
        ch["text"] = out.text;
      }
      if (r.logprobs < 0) {
        ch["logprobs"] = nullptr;
      } else if (chat) {
        ch["logprobs"] = chat_logprobs(engine_.tokenizer(), out.logprobs, r.return_tokens);
      } else {
        int64_t offset = 0;
        ch["logprobs"] = completion_logprobs(engine_.tokenizer(), out.logprobs, offset, r.return_tokens);
      }
      ch["finish_reason"] = out.finish_reason;
      if (r.return_tokens) {
        ch["token_ids"] = out.tokens;
        ch["prompt_token_ids"] = out.prompt_tokens;
        ch["tokens"] = out.tokens;  // the token-record schema of docs/CLI.md: detect reads the body
        ch["prompt_tokens"] = out.prompt_tokens;
      }
      choices.push_back(std::move(ch));
    }
  }
  lease.release();
  tl_log.tokens = prompt_total + completion_total;

  ordered_json body;
  body["id"] = id;
  body["object"] = chat ? "chat.completion" : "text_completion";
  body["created"] = created;
  body["model"] = model_name_;
  body["choices"] = std::move(choices);
  body["usage"] = {{"prompt_tokens", prompt_total},
                   {"completion_tokens", completion_total},
                   {"total_tokens", prompt_total + completion_total}};
  if (r.return_tokens) {
    ordered_json t;
    t["watermarked"] = wm != nullptr;
    t["account"] = *who.account;
    if (wm) {
      t["key_fingerprint"] = master_->fingerprint();
      t["scheme"] = describe_scheme(*who.account);
      t["delta"] = cfg_.delta;
    }
    body["tracemark"] = std::move(t);
  }
  send_json(res, 200, body);
}

void server::health(httplib::Response& res) const {
  ordered_json h;
  h["status"] = "ok";
  h["model"] = model_name_;
  h["watermark"] = cfg_.watermark;
  h["workers"] = pool_->workers();
  h["busy"] = pool_->busy();
  h["waiting"] = pool_->waiting();
  h["queue_limit"] = pool_->queue_limit();
  send_json(res, 200, h);
}

void server::routes() {
  auto guarded = [](auto&& fn) {
    return [fn](const httplib::Request& req, httplib::Response& res) {
      try {
        fn(req, res);
      } catch (const api_error& e) {
        send_error(res, e);
      } catch (const std::exception& e) {
        send_error(res, api_error(500, std::string("internal error: ") + e.what()));
      }
    };
  };
  auto not_allowed = [](const char* allow) {
    return [allow](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", allow);
      send_error(res, api_error(405, req.method + " is not allowed on " + sanitize(req.path) + "; use " + allow));
    };
  };
  http_.Post("/v1/completions", guarded([this](const httplib::Request& q, httplib::Response& s) {
    completions(q, s, false);
  }));
  http_.Post("/v1/chat/completions", guarded([this](const httplib::Request& q, httplib::Response& s) {
    completions(q, s, true);
  }));
  http_.Post("/v1/detect", guarded([this](const httplib::Request& q, httplib::Response& s) { detect(q, s); }));
  http_.Get("/health", [this](const httplib::Request&, httplib::Response& s) { health(s); });
  for (const char* p : {"/v1/completions", "/v1/chat/completions", "/v1/detect"}) {
    http_.Get(p, not_allowed("POST"));
    http_.Put(p, not_allowed("POST"));
    http_.Delete(p, not_allowed("POST"));
  }
  http_.Post("/health", not_allowed("GET"));

  http_.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    tl_log = request_log{};
    tl_log.start = clock_type::now();
    tl_log.started = true;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Errors httplib produces itself (no route, body too large, bad request line): JSON too.
  http_.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                       httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    switch (res.status) {
      case 404: message = "no such endpoint: " + sanitize(req.method) + " " + sanitize(req.path); break;
      case 413:
        message = "the request body is larger than the limit of " + std::to_string(flags_.max_body) + " bytes";
        break;
      case 400: message = "malformed HTTP request"; break;
      default: message = "HTTP error " + std::to_string(res.status);
    }
    res.set_content(error_body(res.status, message).dump(), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  http_.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    double ms = 0.0;
    if (tl_log.started)
      ms = std::chrono::duration<double, std::milli>(clock_type::now() - tl_log.start).count();
    char tail[96];
    std::snprintf(tail, sizeof tail, " tokens=%lld ms=%.1f", static_cast<long long>(tl_log.tokens), ms);
    log_line(utc_now() + " " + sanitize(req.method, 16) + " " + sanitize(req.path) + " " +
             std::to_string(res.status) + " account=" + (tl_log.who.empty() ? "-" : tl_log.who) + tail);
    tl_log = request_log{};
  });
}

int server::run() {
  routes();
  const int32_t threads =
      flags_.http_threads > 0 ? flags_.http_threads : std::max(8, flags_.workers + flags_.queue + 4);
  http_.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http_.set_payload_max_length(static_cast<size_t>(flags_.max_body));
  http_.set_keep_alive_max_count(1000);
  http_.set_keep_alive_timeout(5);
  http_.set_tcp_nodelay(true);

  // cpp-httplib listens with a backlog of 5 (compiled into Debian's library): a burst of
  // connections overflows it, and Linux then drops handshakes (clients see resets or long
  // stalls). Remember the listening socket and raise its backlog after binding.
  std::atomic<int> listen_fd{-1};
  http_.set_socket_options([&listen_fd](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);  // httplib's default option
    listen_fd = sock;
  });

  int port = flags_.port;
  if (port == 0) {
    port = http_.bind_to_any_port(flags_.host);
    if (port <= 0) port = -1;
  } else if (!http_.bind_to_port(flags_.host, port)) {
    port = -1;
  }
  if (port > 0 && listen_fd.load() >= 0) ::listen(listen_fd.load(), SOMAXCONN);
  if (port < 0) {
    print_error("serve", "cannot listen on " + flags_.host + ":" + std::to_string(flags_.port) +
                             " (address in use, or not an address of this machine)");
    return exit_io;
  }

  log_line("tracemark serve: model " + engine_.path().string() + " (vocab " + std::to_string(vocab_) +
           ", context " + std::to_string(n_ctx_) + " tokens), " + std::to_string(flags_.workers) + " workers, queue " +
           std::to_string(flags_.queue) + ", " + std::to_string(threads) + " HTTP threads");
  if (master_) log_line("tracemark serve: key " + master_->fingerprint());
  // The tokenizer's identity goes into /v1/detect's records; hashing the model file takes a
  // moment on large models, so it is done here rather than in the first request.
  log_line("tracemark serve: model sha256 " + engine_.tokenizer().identity().sha256);
  std::ostringstream delta;
  delta << cfg_.delta;
  log_line(std::string("tracemark serve: watermark ") +
           (cfg_.watermark ? "ON, " + describe_scheme("") + ", delta " + delta.str() +
                                 ", one sub-key per account"
                           : "OFF (unmarked completions)") +
           "; " + std::to_string(cfg_.accounts.size()) + " accounts, " + std::to_string(cfg_.keys.size()) + " keys");
  log_line("tracemark serve: chat prompts: " + chat_.describe());

  const std::string host = flags_.host.find(':') != std::string::npos ? "[" + flags_.host + "]" : flags_.host;
  std::printf("listening on http://%s:%d\n", host.c_str(), port);
  std::fflush(stdout);
  const bool ok = http_.listen_after_bind();
  log_line("tracemark serve: stopped");
  return ok ? exit_ok : exit_io;
}

}  // namespace tracemark::cli
