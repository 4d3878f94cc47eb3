// `detect --report FILE`: one self-contained HTML page of the detection for people (the
// counterpart of the audit report): each document's verdict, its p-value in words, its
// tokens highlighted green/red/skipped, and the best window.
#pragma once
#include <string>
#include <vector>

#include "detect/detect_run.h"
#include "detect/detect_units.h"

namespace tracemark::cli {

// Writes the report of `docs` (the first --report-documents documents, scored with a trace)
// to `path`. Throws cli_error(exit_io) when it cannot be written.
void write_detect_report(const std::string& path, const std::vector<document_result>& docs, const detect_run& run);

}  // namespace tracemark::cli
