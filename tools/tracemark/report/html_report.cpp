// The shared pieces of the HTML reports (html_report.h).
#include "report/html_report.h"

#include <cmath>
#include <cstdio>

namespace tracemark::cli {

namespace {

// The colours are part of the reports' interface: tests/llama/test_audit_report.cpp and
// test_detect_report.cpp look for the banner and token colours pixel by pixel in
// screenshots, so change them together with the tests.
const char* const style = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;max-width:880px;margin:24px auto;
padding:0 16px;color:#212121;line-height:1.5;background:#fff}
h1{font-size:1.6em;margin-bottom:0}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:2px}
.verdict{border-radius:8px;padding:18px 22px;color:#fff;margin:20px 0}
.verdict.yes{background:#b71c1c}.verdict.no{background:#455a64}
.verdict .big{font-size:1.7em;font-weight:700;margin:0}.verdict p{margin:.4em 0 0}
.facts{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.fact{flex:1 1 150px;border:1px solid #ddd;border-radius:6px;padding:8px 12px}
.fact b{display:block;font-size:1.35em}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;
vertical-align:top}th{width:38%;font-weight:600;color:#444}
svg.chart{width:100%;height:auto;font-size:12px;fill:#333}
.legend span{display:inline-block;padding:0 6px;margin-right:10px;border-radius:3px}
.sample{margin:14px 0;border:1px solid #ddd;border-radius:6px;padding:8px 12px}
.sample figcaption{font-weight:600;color:#444}
.text{white-space:pre-wrap;font-family:"DejaVu Sans Mono",monospace;font-size:14px;line-height:1.7}
.g{background:#a5d6a7}.r{background:#ef9a9a}.n{color:#9e9e9e}.p{color:#757575;font-style:italic}
.d{color:#8d6e63;text-decoration:underline dotted}
.note{color:#666;font-size:.92em}.warn{background:#fff3e0;border-left:4px solid #ef6c00;padding:8px 12px}
code{background:#f3f3f3;padding:0 3px;border-radius:3px}
)";

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (!ok) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (len == 1) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default:
          if (c < 0x20 && c != '\n' && c != '\t') out += "\xEF\xBF\xBD";
          else out += static_cast<char>(c);
      }
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string significant(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string percent(double fraction, int decimals) { return fixed(100.0 * fraction, decimals) + "%"; }

std::string odds_in_words(double log10_p) {
  if (!(log10_p < -0.301)) return "more often than not";
  const double n = -log10_p;  // p = 1 in 10^n
  if (n < 3.0) {
    const double odds = std::pow(10.0, n);
    return "about 1 time in " + (odds < 10 ? fixed(odds, odds < 1.95 ? 1 : 0) : significant(odds, 2));
  }
  static constexpr struct {
    double exponent;
    const char* name;
  } scales[] = {{18, "quintillion"}, {15, "quadrillion"}, {12, "trillion"}, {9, "billion"}, {6, "million"},
                {3, "thousand"}};
  if (n >= 21.0) return "less than 1 time in 10^" + fixed(std::floor(n), 0);
  for (const auto& sc : scales)
    if (n >= sc.exponent) {
      const double v = std::pow(10.0, n - sc.exponent);
      return "about 1 time in " + significant(v, v < 10 ? 2 : 3) + " " + sc.name;
    }
  return "";
}

std::string odds_html(double log10_p) {
  std::string s = odds_in_words(log10_p);
  const size_t caret = s.find("10^");
  if (caret != std::string::npos) s = s.substr(0, caret) + "10<sup>" + s.substr(caret + 3) + "</sup>";
  return s;
}

std::string p_html(double log10_p) {
  if (log10_p >= -3.0) return significant(std::pow(10.0, log10_p), 2);
  // Mantissa and exponent from log10 p directly: p itself underflows below 1e-308.
  double exponent = std::floor(log10_p);
  double mantissa = std::pow(10.0, log10_p - exponent);
  if (mantissa >= 9.95) {
    mantissa = 1.0;
    exponent += 1.0;
  }
  return fixed(mantissa, 1) + " &times; 10<sup>&minus;" + fixed(-exponent, 0) + "</sup>";
}

std::string alpha_words(double alpha) { return significant(alpha) + " (" + odds_html(std::log10(alpha)) + ")"; }

const char* token_class(token_style s) {
  switch (s) {
    case token_style::green: return "g";
    case token_style::red: return "r";
    case token_style::repeat: return "d";
    case token_style::prompt: return "p";
    case token_style::skipped: return "n";
  }
  return "n";
}

std::string token_span(token_style s, std::string_view title, std::string_view text) {
  return std::string("<span class=\"") + token_class(s) + "\" title=\"" + html_escape(title) + "\">" +
         html_escape(text) + "</span>";
}

std::string legend_entry(token_style s, std::string_view label_html) {
  return std::string("<span class=\"") + token_class(s) + "\">" + std::string(label_html) + "</span>";
}

std::string verdict_banner(bool positive, std::string_view headline_html, std::string_view explanation_html,
                           std::string_view id) {
  std::string s = std::string("<section class=\"verdict ") + (positive ? "yes" : "no") + "\"";
  if (!id.empty()) s += " id=\"" + html_escape(id) + "\"";
  s += "><p class=\"big\">";
  s += headline_html;
  s += "</p><p>";
  s += explanation_html;
  s += "</p></section>\n";
  return s;
}

std::string fact_box(std::string_view value_html, std::string_view label_html) {
  return "<div class=\"fact\"><b>" + std::string(value_html) + "</b>" + std::string(label_html) + "</div>";
}

std::string page_begin(std::string_view title, std::string_view extra_css) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>" +
         html_escape(title) + "</title><style>" + style + std::string(extra_css) + "</style></head><body>\n";
}

std::string page_end(std::string_view note_html) {
  return "<p class=\"note\">" + std::string(note_html) + "</p>\n</body></html>\n";
}

}  // namespace tracemark::cli
