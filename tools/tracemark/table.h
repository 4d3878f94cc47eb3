// Human-readable output of `tracemark detect` for terminals: fixed-width columns so
// rows can be printed as they are produced, and a summary line at the end.
#pragma once
#include <cstdint>
#include <string>

#include "jsonl.h"

namespace tracemark::cli {

struct table_summary {
  int64_t records = 0, watermarked = 0, not_watermarked = 0, errors = 0;
  void add(const record_result& r);
};

std::string table_header();                       // with its trailing newline
std::string table_row(const record_result& r);    // with its trailing newline
std::string table_footer(const table_summary& s, double alpha);

// log10 p as "10^-42.3" style text, for people.
std::string format_p_value(double log10_p);

}  // namespace tracemark::cli
