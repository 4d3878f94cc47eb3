#include "common/output.h"

#include <cerrno>
#include <cstring>

#include "common/cli.h"

namespace tracemark::cli {

output::output(const std::string& path) {
  if (path.empty() || path == "-") {
    f_ = stdout;
    name_ = "standard output";
  } else {
    f_ = std::fopen(path.c_str(), "w");
    name_ = "output file " + path;
    if (f_ == nullptr) throw io_error("cannot open " + name_ + ": " + std::strerror(errno));
    owned_ = true;
  }
  if (owned_) {
    buffer_.resize(size_t{1} << 20);
    std::setvbuf(f_, buffer_.data(), _IOFBF, buffer_.size());
  } else {
    // Once per process, before anything is written (setvbuf must come first); the buffer
    // lives as long as stdout.
    static std::vector<char> stdout_buffer = [] {
      std::vector<char> b(size_t{1} << 20);
      std::setvbuf(stdout, b.data(), _IOFBF, b.size());
      return b;
    }();
  }
}

output::~output() {
  if (f_ == nullptr) return;
  if (owned_) std::fclose(f_);
  else std::fflush(f_);
}

void output::write(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), f_) != s.size()) fail();
}

void output::flush() {
  if (std::fflush(f_) != 0) fail();
}

void output::close() {
  flush();
  if (owned_) {
    FILE* f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) fail();
  }
}

void output::fail() { throw io_error("cannot write " + name_ + ": " + std::strerror(errno)); }

void write_file(const std::string& path, const std::string& text) {
  output out(path);
  out.write(text);
  out.close();
}

}  // namespace tracemark::cli
