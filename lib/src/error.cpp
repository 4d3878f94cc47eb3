#include "tracemark/error.h"

namespace tracemark {

error::error(errc code, const std::string& message) : std::runtime_error(message), code_(code) {}

}  // namespace tracemark
