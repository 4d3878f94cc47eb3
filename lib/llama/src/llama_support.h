// Process-wide llama.cpp plumbing shared by the tokenizer and the model runner.
#pragma once
#include <llama.h>

#include <filesystem>
#include <string>

namespace tracemark::llama_support {

// llama_backend_init and our log callback, once per process. The callback drops
// llama.cpp's log unless TRACEMARK_LLAMA_LOG=1 (then it goes to stderr).
void init_llama_once();

// While alive, keeps this thread's llama.cpp ERROR log lines so a failed load can say why.
struct capture_errors {
  std::string text;
  capture_errors();
  ~capture_errors();
  capture_errors(const capture_errors&) = delete;
  capture_errors& operator=(const capture_errors&) = delete;
  std::string summary() const;  // the error lines joined with "; "
};

std::string quoted(const std::filesystem::path& p);

// errc::io for a missing/unreadable path or a directory; errc::invalid_argument
// unless the file starts with the GGUF magic. Messages name the path.
void check_gguf_file(const std::filesystem::path& path);

struct model_deleter {
  void operator()(llama_model* m) const noexcept;
};

}  // namespace tracemark::llama_support
