#include "detect/table.h"

#include "common/records.h"
#include "detect/detect_units.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace tracemark::cli {

namespace {

constexpr size_t id_width = 24;

// Display width of UTF-8 text, counted in code points (good enough for ids).
size_t width_of(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return n;
}

// `s` cut to at most `width` code points (with "..." when cut) and padded with spaces.
std::string fit(const std::string& s, size_t width) {
  std::string out;
  if (width_of(s) <= width) {
    out = s;
  } else {
    size_t points = 0, i = 0;
    for (; i < s.size(); ++i) {
      if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80 && points++ == width - 3) break;
    }
    out = s.substr(0, i) + "...";
  }
  out.append(width - std::min(width, width_of(out)), ' ');
  return out;
}

}  // namespace

std::string table_header() {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-6s %-*s %8s %8s %7s %8s %9s  %s\n", "line", static_cast<int>(id_width), "id",
                "tokens", "scored", "green%", "z", "log10 p", "verdict");
  return buf;
}

std::string table_row(const document_result& r, double alpha) {
  const std::string id = fit(display_id(r.id), id_width);
  char buf[256];
  if (!r.error.empty()) {
    std::snprintf(buf, sizeof buf, "%-6lld %s ", static_cast<long long>(r.line), id.c_str());
    return std::string(buf) + "error: " + r.error + "\n";
  }
  // With --accounts a person asks "marked by any of them, and which": the row shows the
  // best account's counts and its p-value corrected for the accounts tried.
  const attribution_result* a = r.attribution ? &*r.attribution : nullptr;
  const test_result& t = a ? a->accounts[a->best].det.test : r.det.test;
  const double log10_p = a ? a->log10_p_corrected : t.log10_p;
  const bool marked = a ? a->significant(alpha) : t.significant(alpha);
  const double green_pct =
      t.stat.scored > 0 ? 100.0 * t.stat.score / static_cast<double>(t.stat.scored) : 0.0;
  std::snprintf(buf, sizeof buf, "%-6lld %s %8lld %8lld %6.1f%% %8.2f %9.2f  %s", static_cast<long long>(r.line),
                id.c_str(), static_cast<long long>(r.det.n_tokens - r.n_prompt),
                static_cast<long long>(t.stat.scored), green_pct, t.z, log10_p,
                marked ? "watermarked" : "not watermarked");
  std::string row = buf;
  if (a && marked) {
    const std::string& account = a->accounts[a->best].account;
    row += account.empty() ? " (master sub-key)" : " (account " + display_id(account) + ")";
  }
  return row + "\n";
}

std::string table_footer(const table_summary& s, double alpha) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%lld record%s: %lld watermarked, %lld not watermarked, %lld error%s (alpha %g)\n",
                static_cast<long long>(s.records), s.records == 1 ? "" : "s", static_cast<long long>(s.watermarked),
                static_cast<long long>(s.not_watermarked), static_cast<long long>(s.errors),
                s.errors == 1 ? "" : "s", alpha);
  return buf;
}

std::string corpus_table(const corpus_verdict& v, double alpha, const attribution_result* attribution) {
  char buf[512];
  const test_result& t = v.test;
  const double rate = t.stat.scored > 0 ? 100.0 * t.stat.score / static_cast<double>(t.stat.scored) : 0;
  std::snprintf(buf, sizeof buf,
                "corpus: %lld documents (%lld errors not included), %lld tokens, %lld distinct tuples scored, "
                "%.1f%% green, z %.2f, p %s: %s (alpha %g)\n",
                static_cast<long long>(v.n_documents), static_cast<long long>(v.n_errors),
                static_cast<long long>(v.n_tokens), static_cast<long long>(t.stat.scored), rate, t.z,
                format_p_value(t.log10_p).c_str(), t.significant(alpha) ? "WATERMARKED" : "not watermarked", alpha);
  std::string s = buf;
  std::snprintf(buf, sizeof buf, "  estimated marked fraction %.1f%% of documents, green rate %.1f%% in them\n",
                100.0 * v.marked_fraction, 100.0 * v.marked_green_rate);
  s += buf;
  if (!v.top_documents.empty()) {
    s += "  most evidence:";
    for (const document_contribution& c : v.top_documents)
      s += " #" + std::to_string(c.index) + " " + c.id + " (" + format_p_value(c.test.log10_p) + ")";
    s += "\n";
  }
  if (attribution && !attribution->accounts.empty()) {
    const account_test& best = attribution->accounts[attribution->best];
    s += "  accounts: " + std::to_string(attribution->n_tried()) + " tried; best '" + best.account + "' (" +
         format_p_value(best.det.test.log10_p) + ", corrected " + format_p_value(attribution->log10_p_corrected) +
         "): " + (attribution->significant(alpha) ? "the evidence points to it" : "no account is significant") + "\n";
  }
  return s;
}

std::string format_p_value(double log10_p) {
  char buf[64];
  if (!std::isfinite(log10_p)) return "n/a";
  std::snprintf(buf, sizeof buf, log10_p > -10.0 ? "10^%.2f" : "10^%.1f", log10_p);
  return buf;
}

}  // namespace tracemark::cli
