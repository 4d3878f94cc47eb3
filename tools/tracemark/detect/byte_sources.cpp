// The byte sources of the document reader (input_reader.h): a file descriptor and memory.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "detect/input_reader.h"

namespace tracemark::cli {

size_t fd_source::read(char* buf, size_t n) {
  for (;;) {
    const ssize_t got = ::read(fd_, buf, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno == EINTR) continue;
    throw input_error("cannot read " + name_ + ": " + std::strerror(errno));
  }
}

bool fd_source::would_block() const {
  pollfd p{fd_, POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  return rc == 0;
}

size_t memory_source::read(char* buf, size_t n) {
  const size_t k = std::min({n, max_read_, data_.size() - pos_});
  if (k > 0) std::memcpy(buf, data_.data() + pos_, k);
  pos_ += k;
  return k;
}


}  // namespace tracemark::cli
