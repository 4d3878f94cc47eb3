#include "table.h"

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

void table_summary::add(const record_result& r) {
  ++records;
  if (!r.error.empty())
    ++errors;
  else if (r.watermarked)
    ++watermarked;
  else
    ++not_watermarked;
}

std::string table_header() {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-6s %-*s %8s %8s %7s %8s %9s  %s\n", "line", static_cast<int>(id_width), "id",
                "tokens", "scored", "green%", "z", "log10 p", "verdict");
  return buf;
}

std::string table_row(const record_result& r) {
  const std::string id = fit(display_id(r.id), id_width);
  char buf[256];
  if (!r.error.empty()) {
    std::snprintf(buf, sizeof buf, "%-6lld %s ", static_cast<long long>(r.line), id.c_str());
    return std::string(buf) + "error: " + r.error + "\n";
  }
  const detection& d = r.det;
  const double green_pct =
      d.n_scored > 0 ? 100.0 * static_cast<double>(d.n_green) / static_cast<double>(d.n_scored) : 0.0;
  std::snprintf(buf, sizeof buf, "%-6lld %s %8lld %8lld %6.1f%% %8.2f %9.2f  %s\n", static_cast<long long>(r.line),
                id.c_str(), static_cast<long long>(r.n_tokens),
                static_cast<long long>(d.n_scored), green_pct, d.z, d.log10_p,
                r.watermarked ? "watermarked" : "not watermarked");
  return buf;
}

std::string table_footer(const table_summary& s, double alpha) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%lld record%s: %lld watermarked, %lld not watermarked, %lld error%s (alpha %g)\n",
                static_cast<long long>(s.records), s.records == 1 ? "" : "s", static_cast<long long>(s.watermarked),
                static_cast<long long>(s.not_watermarked), static_cast<long long>(s.errors),
                s.errors == 1 ? "" : "s", alpha);
  return buf;
}

std::string format_p_value(double log10_p) {
  char buf[64];
  if (!std::isfinite(log10_p)) return "n/a";
  std::snprintf(buf, sizeof buf, log10_p > -10.0 ? "10^%.2f" : "10^%.1f", log10_p);
  return buf;
}

}  // namespace tracemark::cli
