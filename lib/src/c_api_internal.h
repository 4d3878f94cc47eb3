// Definitions behind the opaque C handles, for adapters in other targets (tracemark::llama).
#pragma once
#include <string>

#include "tracemark/key.h"
#include "tracemark/tracemark.h"
#include "tracemark/watermarker.h"

struct tmk_key {
  tracemark::key k;
};
struct tmk_watermarker {
  tracemark::watermarker wm;
  std::string key_fingerprint;  // for records
};
struct tmk_state {
  tracemark::sequence_state s;
};
