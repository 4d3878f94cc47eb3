// Where a command writes its records: standard output or a file created only once every
// up-front check passed (so that a usage error leaves no empty file behind). Writes that
// fail throw cli_error(exit_io) naming the destination.
#pragma once
#include <cstdio>
#include <string>
#include <vector>

namespace tracemark::cli {

class output {
 public:
  // `path` empty or "-": standard output.
  explicit output(const std::string& path);
  ~output();
  output(const output&) = delete;
  output& operator=(const output&) = delete;

  void write(const std::string& s);
  void flush();
  // Flushes and closes (a file); errors surface here rather than being lost in a destructor.
  void close();
  bool is_stdout() const noexcept { return !owned_; }
  const std::string& name() const noexcept { return name_; }

 private:
  [[noreturn]] void fail();
  FILE* f_ = nullptr;
  std::string name_;
  bool owned_ = false;
  std::vector<char> buffer_;
};

// Writes `text` to `path` ("-": standard output) at once. Throws cli_error(exit_io).
void write_file(const std::string& path, const std::string& text);

}  // namespace tracemark::cli
