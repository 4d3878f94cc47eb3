// The scheme flags shared by `detect` and `demo`: --scheme, --context-width,
// --gamma, --vocab-size, --account. They select the green lists (docs/SPEC.md §2-§4).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "tracemark/scheme.h"

namespace CLI {
class App;
}

namespace tracemark::cli {

struct scheme_options {
  std::string scheme = "kgw-lefthash";
  std::optional<int64_t> context_width;  // default: 1 for the KGW schemes, 0 for unigram
  // Kept as text and converted with one correct rounding (strtod), as the server's JSON
  // config is: CLI11 reads doubles through long double, and that double rounding gives a
  // different T for some 6-digit gammas (docs/SPEC.md §4).
  std::string gamma = "0.25";
  std::optional<int64_t> vocab_size;     // no default: it is part of the key derivation
  std::string account;

  // Adds the flags to `app`. With `with_vocab` false the vocabulary is fixed by the
  // caller (the demo) and --vocab-size is not offered.
  void add_to(CLI::App& app, bool with_vocab = true);

  // Checks every value and returns the configuration. Throws usage_error naming the
  // flag. `fixed_vocab` is used when --vocab-size was not offered.
  scheme_config to_config(int32_t fixed_vocab = 0) const;
};

}  // namespace tracemark::cli
