// Human-readable output of `tracemark detect` for terminals: fixed-width columns so
// rows can be printed as they are produced, and a summary line at the end.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "tracemark/attribution.h"
#include "tracemark/corpus.h"

namespace tracemark::cli {

struct document_result;

struct table_summary {
  int64_t records = 0, watermarked = 0, not_watermarked = 0, errors = 0;
};

std::string table_header();                                    // with its trailing newline
std::string table_row(const document_result& r, double alpha);  // with its trailing newline
std::string table_footer(const table_summary& s, double alpha);
// The corpus verdict as a block of text (with the attribution over accounts, when given).
std::string corpus_table(const corpus_verdict& v, double alpha, const attribution_result* attribution);

// log10 p as "10^-42.3" style text, for people.
std::string format_p_value(double log10_p);

}  // namespace tracemark::cli
