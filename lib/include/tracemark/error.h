// Errors thrown by the C++ API. Hot per-token calls never throw.
#pragma once
#include <stdexcept>
#include <string>

#include "tracemark/export.h"

namespace tracemark {

enum class errc {
  invalid_argument,  // a parameter is out of range (gamma, context width, ...)
  key_missing,       // key file does not exist or cannot be opened
  key_permissions,   // key file is readable or writable by group/others
  key_corrupt,       // key file is truncated, malformed, or its fingerprint does not match
  io,                // reading or writing a file failed
  crypto,            // OpenSSL reported a failure
};

// A value; thread-safe as std::runtime_error is.
class TRACEMARK_EXPORT error : public std::runtime_error {
 public:
  error(errc code, const std::string& message);
  errc code() const noexcept { return code_; }

 private:
  errc code_;
};

}  // namespace tracemark
