// `detect --report FILE`: one self-contained HTML page of the detection for people who are
// not statisticians, the counterpart of the audit report (same colours and banner): a
// summary of the run (documents, how many watermarked, key, scheme, tokenizer), then per
// document its verdict, the p-value in words, the counts against chance, the account named
// with --accounts, and its tokens highlighted green/red/not counted with the most marked
// stretch (the best window) outlined. CSS inline, no scripts, nothing fetched.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "detect/detect_run.h"
#include "detect/detect_units.h"

namespace tracemark::cli {

// The page for `docs` (the first --report-documents documents, scored with a trace) of a
// run that read `documents_read` documents in all. `generated_at` is printed as given.
std::string render_detect_report(const std::vector<document_result>& docs, const detect_run& run,
                                 int64_t documents_read, std::string_view generated_at);

// Renders the page (stamped with the current UTC time) and writes it to `path`. Throws
// cli_error(exit_io) when it cannot be written.
void write_detect_report(const std::string& path, const std::vector<document_result>& docs, const detect_run& run,
                         int64_t documents_read);

}  // namespace tracemark::cli
