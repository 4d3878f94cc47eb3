#include <doctest/doctest.h>

#include "siphash.h"
#include "tracemark/tracemark.hpp"

using namespace tracemark;

TEST_CASE("SipHash-2-4 matches the reference vector of the SipHash paper (Appendix A)") {
  // Key 00 01 .. 0f, message 00 01 .. 0e (15 bytes): 0xa129ca6149be45e5.
  uint8_t key_bytes[16], msg[15];
  for (int i = 0; i < 16; ++i) key_bytes[i] = static_cast<uint8_t>(i);
  for (int i = 0; i < 15; ++i) msg[i] = static_cast<uint8_t>(i);
  detail::siphash_key k{detail::load_le64(key_bytes), detail::load_le64(key_bytes + 8)};
  CHECK(detail::siphash24(k, msg, 15) == 0xa129ca6149be45e5ULL);
  CHECK(detail::siphash24(k, msg, 0) == 0x726fdb47dd0e0e31ULL);
}
