// One document of `detect --report` (detect_report.h): which test decides it, and its
// section of the page (verdict banner, counts, green-rate bars, highlighted tokens with the
// best window, the accounts tried).
#pragma once
#include <cstddef>
#include <string>

#include "detect/detect_run.h"
#include "detect/detect_units.h"

namespace tracemark::cli {

// What the page says about a document. With --accounts, a document marked under an
// account's sub-key is unmarked under the master's, so the attribution (Bonferroni-corrected
// over the sub-keys tried) decides when it names an account; otherwise the record's own test.
struct document_verdict {
  const detection* det = nullptr;  // colours the tokens and gives the window
  bool watermarked = false;
  double log10_p = 0.0;            // of the verdict (corrected when it comes from the attribution)
  bool attributed = false;         // an account was named: det is that account's detection
  std::string account;             // the account named ("" is the master sub-key)
};

document_verdict verdict_of(const document_result& d, double alpha);

// How an account id reads on the page (HTML): the id, or a phrase for the master sub-key.
std::string account_html(const std::string& account);

// The document's <section>; `number` counts from 1 in the report.
std::string document_section(const document_result& d, const document_verdict& v, const detect_run& run,
                             size_t number);

}  // namespace tracemark::cli
