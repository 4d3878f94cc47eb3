// `tracemark audit --report FILE`: the evidence record as one self-contained HTML page
// for readers who are not statisticians (issue 5, item 6): the verdict, the p-value in
// words, how many tokens support it, charts of the green rate against gamma and of the
// evidence against the threshold, and sample text with green/red tokens highlighted.
// No scripts, fonts or images are fetched: CSS and SVG are inline.
#pragma once
#include <string>
#include <string_view>

#include "report/html_report.h"  // token_text_fn, odds_in_words, significant
#include "tracemark/audit.h"

namespace tracemark::cli {

// The page. `token_text` may be empty: tokens then show as "[id]". `generated_at` is
// printed as given (e.g. an ISO 8601 UTC time).
std::string render_audit_report(const audit_evidence& e, const token_text_fn& token_text,
                                std::string_view generated_at);

}  // namespace tracemark::cli
