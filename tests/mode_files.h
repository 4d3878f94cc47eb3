// Files with an exact mode, for the tests of key, signing key and signature files
// (test_key.cpp, test_signing.cpp, cli/test_cli_signing.cpp): their readers refuse a secret
// file by its mode, so a test sets the mode itself, whatever the umask. The temporary
// directory and whole-file reads are process_helpers.h's.
#pragma once
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "process_helpers.h"

namespace testing_util {

// Writes `content` to `path` (replacing it) with exactly `mode`.
inline void write_file_with_mode(const std::string& path, const std::string& content, mode_t mode = 0600) {
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  REQUIRE(fd >= 0);
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    REQUIRE(n > 0);
    done += static_cast<size_t>(n);
  }
  REQUIRE(::fchmod(fd, mode) == 0);
  REQUIRE(::close(fd) == 0);
}

// The permission bits of `path` (07777).
inline mode_t file_mode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace testing_util
