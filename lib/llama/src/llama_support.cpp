// Process-wide llama.cpp plumbing shared by the tokenizer and the model runner:
// one-time backend initialisation, log capture, GGUF file checks.
#include "llama_support.h"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#include "tracemark/error.h"

namespace tracemark::llama_support {

// ---------------------------------------------------------------- logging
// llama.cpp's log callback is process-global. Ours drops everything unless
// TRACEMARK_LLAMA_LOG=1, but while a thread is loading a file it keeps that
// thread's ERROR lines (and their continuations) so a failed load can say why.
namespace {
bool g_log_to_stderr = false;
thread_local std::string* t_capture = nullptr;
thread_local bool t_last_was_error = false;
constexpr std::size_t k_capture_limit = 2048;

void log_callback(ggml_log_level level, const char* text, void* /*user_data*/) {
  if (text == nullptr) return;
  if (g_log_to_stderr) std::fputs(text, stderr);
  if (level != GGML_LOG_LEVEL_CONT) t_last_was_error = (level == GGML_LOG_LEVEL_ERROR);
  if (t_capture != nullptr && t_last_was_error && t_capture->size() < k_capture_limit) {
    t_capture->append(text);
  }
}

}  // namespace

void init_llama_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("TRACEMARK_LLAMA_LOG");
    g_log_to_stderr = env != nullptr && std::strcmp(env, "1") == 0;
    llama_log_set(log_callback, nullptr);
    llama_backend_init();
  });
}

capture_errors::capture_errors() {
  t_capture = &text;
  t_last_was_error = false;
}
capture_errors::~capture_errors() { t_capture = nullptr; }

std::string capture_errors::summary() const {  // llama.cpp's error lines joined with "; "
  std::string s, line;
  auto flush = [&] {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (!line.empty()) {
      if (!s.empty()) s += "; ";
      s += line;
    }
    line.clear();
  };
  for (const char c : text) {
    if (c == '\n') flush();
    else line += c;
  }
  flush();
  return s;
}

std::string quoted(const std::filesystem::path& p) {
  std::string s = p.string();
  s.insert(s.begin(), '\'');  // not "'" + s: GCC 12 -O3 reports a false -Wrestrict there
  s.push_back('\'');
  return s;
}

// ---------------------------------------------------------------- file checks
// Open the file ourselves first: a clear errc::io for a missing/unreadable
// path, and errc::invalid_argument for anything that does not start with the
// GGUF magic, before llama.cpp (which would only log and return null) sees it.
void check_gguf_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    throw error(errc::io, "cannot open " + quoted(path) + ": " +
                              (ec ? ec.message() : std::string("no such file")));
  }
  if (std::filesystem::is_directory(st)) {
    throw error(errc::io, quoted(path) + " is a directory, not a GGUF file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    throw error(errc::io, "cannot open " + quoted(path) + ": " +
                              (e != 0 ? std::strerror(e) : "open failed"));
  }
  std::array<char, 4> magic{};
  in.read(magic.data(), static_cast<std::streamsize>(magic.size()));
  if (in.bad()) {
    throw error(errc::io, "cannot read " + quoted(path));
  }
  if (in.gcount() != 4 || magic != std::array<char, 4>{'G', 'G', 'U', 'F'}) {
    throw error(errc::invalid_argument,
                quoted(path) +
                    " is not a GGUF file (it does not start with the magic bytes \"GGUF\")");
  }
}

void model_deleter::operator()(llama_model* m) const noexcept { llama_model_free(m); }


}  // namespace tracemark::llama_support
