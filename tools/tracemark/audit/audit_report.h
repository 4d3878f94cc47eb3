// `tracemark audit --report FILE`: the evidence record as one self-contained HTML page
// for readers who are not statisticians (issue 5, item 6): the verdict, the p-value in
// words, how many tokens support it, charts of the green rate against gamma and of the
// evidence against the threshold, and sample text with green/red tokens highlighted.
// No scripts, fonts or images are fetched: CSS and SVG are inline.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "tracemark/audit.h"

namespace tracemark::cli {

// The text of one token id (the provider's tokenizer), for the highlighted samples.
using token_text_fn = std::function<std::string(int32_t token)>;

// `v` with `digits` significant digits, as printf's %g ("0.25", "1e-06", "3.2e-15").
std::string significant(double v, int digits = 3);

// "about 1 time in 41 trillion", "about 1 time in 3", "less than 1 time in 10^412",
// "more often than not".
std::string odds_in_words(double log10_p);

// The page. `token_text` may be empty: tokens then show as "[id]". `generated_at` is
// printed as given (e.g. an ISO 8601 UTC time).
std::string render_audit_report(const audit_evidence& e, const token_text_fn& token_text,
                                std::string_view generated_at);

}  // namespace tracemark::cli
