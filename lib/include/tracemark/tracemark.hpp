// Umbrella header of the C++ API.
#pragma once
#include "tracemark/binomial.h"
#include "tracemark/corpus.h"
#include "tracemark/detector.h"
#include "tracemark/error.h"
#include "tracemark/key.h"
#include "tracemark/scheme.h"
#include "tracemark/stream_detector.h"
#include "tracemark/tuple_set.h"
#include "tracemark/watermarker.h"
