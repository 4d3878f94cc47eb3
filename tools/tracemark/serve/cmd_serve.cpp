// tracemark serve: the flags, the configuration and the process (signals); the server
// itself is in server.h.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <thread>

#include "common/cli.h"
#include "common/flash_attention_option.h"
#include "serve/server.h"
#include "tracemark/error.h"

namespace tracemark::cli {

namespace {

const char* const serve_footer =
    "Endpoints (docs/SERVER.md): POST /v1/completions, POST /v1/chat/completions (OpenAI-compatible,\n"
    "stream or not), POST /v1/detect (admin keys), GET /health (no key).\n"
    "Prints 'listening on http://HOST:PORT' on standard output once it accepts connections\n"
    "(--port 0: an ephemeral port). Logs one line per request on standard error. SIGINT/SIGTERM:\n"
    "finish the requests in flight, then exit 0.\n"
    "\n"
    "Exit codes: 0 stopped by a signal; 2 bad flags or config content; 3 key or config file\n"
    "readable by group/others, or the key file is missing or corrupt; 4 model, config or port problem.\n";

int run_serve(const serve_flags& f) {
  if (f.workers < 1 || f.workers > 256) throw usage_error("--workers must lie in 1..256");
  if (f.queue < 0 || f.queue > 100000) throw usage_error("--queue must lie in 0..100000");
  if (f.port < 0 || f.port > 65535) throw usage_error("--port must lie in 0..65535");
  if (!(f.queue_timeout > 0.0 && f.queue_timeout <= 3600.0)) throw usage_error("--queue-timeout must lie in (0, 3600]");
  if (f.n_ctx != 0 && f.n_ctx < 16) throw usage_error("--ctx must be 0 (the model's) or at least 16");
  if (f.max_body < 1024) throw usage_error("--max-body must be at least 1024 bytes");
  if (f.http_threads < 0) throw usage_error("--http-threads must be >= 0");

  server_config cfg = server_config::load(f.config_path);
  std::optional<key> master;
  if (cfg.key_file) master = load_key(cfg.key_file->string());

  // Signals are taken by one thread (below); every other thread, including llama.cpp's
  // and httplib's, inherits this mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<server> srv;
  try {
    srv = std::make_unique<server>(f, std::move(cfg), std::move(master));
  } catch (const tracemark::error& e) {
    throw io_error(e.what());
  }

  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    int stops = 0;
    while (!finished.load()) {
      timespec wait{0, 200 * 1000 * 1000};
      const int sig = sigtimedwait(&signals, nullptr, &wait);
      if (sig <= 0) continue;
      if (++stops == 1) {
        log_line(std::string("tracemark serve: ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                 ": stopping; finishing the requests in flight (send it again to exit at once)");
        srv->stop();
      } else {
        log_line("tracemark serve: second signal: exiting now");
        std::_Exit(128 + sig);
      }
    }
  });
  int rc = exit_io;
  try {
    rc = srv->run();
  } catch (...) {
    finished = true;
    watcher.join();
    throw;
  }
  finished = true;
  watcher.join();
  return rc;
}

}  // namespace

command add_serve_command(CLI::App& parent) {
  auto f = std::make_shared<serve_flags>();
  CLI::App* app = parent.add_subcommand("serve", "Serve a GGUF model over an OpenAI-compatible HTTP API, watermarked");
  app->add_option("--model,-m", f->model_path, "GGUF model file (llama.cpp)")->required()->type_name("GGUF");
  app->add_option("--config,-c", f->config_path, "Server config (JSON, mode 0600; docs/SERVER.md)")
      ->required()
      ->type_name("FILE");
  app->add_option("--host", f->host, "Address to listen on")->capture_default_str();
  app->add_option("--port,-p", f->port, "TCP port; 0 picks a free one")->capture_default_str();
  app->add_option("--workers,-w", f->workers, "Concurrent generations (llama.cpp contexts, 1 thread each)")
      ->capture_default_str();
  app->add_option("--queue", f->queue, "Requests that may wait for a worker; more get 503")->capture_default_str();
  app->add_option("--queue-timeout", f->queue_timeout, "Seconds a request waits for a worker before 503")
      ->capture_default_str();
  app->add_option("--ctx", f->n_ctx, "Context length per worker (prompt + completion); 0: the model's, at most 4096")
      ->capture_default_str();
  add_flash_attention_option(*app, f->flash_attn);
  app->add_option("--max-body", f->max_body, "Largest request body in bytes; larger get 413")->capture_default_str();
  app->add_option("--http-threads", f->http_threads, "HTTP connection threads; 0: max(8, workers + queue + 4)")
      ->capture_default_str();
  app->footer(serve_footer);
  return command{app, [f] { return run_serve(*f); }};
}

}  // namespace tracemark::cli
