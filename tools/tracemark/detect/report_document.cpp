// One document's section of the detection report (report_document.h).
#include "detect/report_document.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/records.h"
#include "report/html_report.h"

namespace tracemark::cli {

namespace {

// Longer documents are cut in the page (the JSON record has the whole test).
constexpr size_t max_tokens_shown = 800;

token_style style_of(token_mark m) {
  switch (m) {
    case token_mark::green: return token_style::green;
    case token_mark::red: return token_style::red;
    case token_mark::repeat: return token_style::repeat;
    case token_mark::prompt: return token_style::prompt;
    case token_mark::no_context: return token_style::skipped;
  }
  return token_style::skipped;
}

// The hover text of a token: why it counts, or why not.
std::string reason_of(token_mark m, int32_t h) {
  switch (m) {
    case token_mark::green: return "counted: green (in the green list chosen by the key and the tokens before it)";
    case token_mark::red: return "counted: red (not in the green list)";
    case token_mark::repeat:
      return "not counted again: the same token after the same " + std::to_string(h) +
             " token(s) was already counted once";
    case token_mark::prompt: return "prompt: given to the model, used as context only, never counted";
    case token_mark::no_context:
      return "not counted: fewer than " + std::to_string(h) + " token(s) before it to choose its green list";
  }
  return "";
}

double rate(const test_result& t) {
  return t.stat.scored > 0 ? t.stat.score / static_cast<double>(t.stat.scored) : 0.0;
}

// Horizontal bars of the green rate (whole text, best window) against gamma, in SVG.
std::string green_rate_bars(const detection& det, double gamma) {
  constexpr double width = 720, label_w = 150, track_w = 450, bar_h = 18, row_h = 30, top = 22;
  const bool with_window = det.window.found;
  const double height = top + row_h * (with_window ? 2 : 1) + 4;
  const auto x_of = [&](double fraction) { return label_w + std::clamp(fraction, 0.0, 1.0) * track_w; };
  std::ostringstream s;
  s << "<svg class=\"bars\" viewBox=\"0 0 " << width << ' ' << height
    << "\" role=\"img\" aria-label=\"share of green tokens against chance\">";
  const auto row = [&](int k, const char* label, double value, const char* colour) {
    const double y = top + row_h * k;
    s << "<text x=\"0\" y=\"" << y + 14 << "\">" << label << "</text>"
      << "<rect x=\"" << label_w << "\" y=\"" << y << "\" width=\"" << track_w << "\" height=\"" << bar_h
      << "\" fill=\"#eceff1\"/>"
      << "<rect x=\"" << label_w << "\" y=\"" << y << "\" width=\"" << x_of(value) - label_w << "\" height=\""
      << bar_h << "\" fill=\"" << colour << "\"/>"
      << "<text x=\"" << label_w + track_w + 8 << "\" y=\"" << y + 14 << "\">" << percent(value) << " green</text>";
  };
  row(0, "whole text", rate(det.test), "#2e7d32");
  if (with_window) row(1, "most marked stretch", rate(det.window.test), "#1565c0");
  const double gx = x_of(gamma);
  s << "<line x1=\"" << gx << "\" x2=\"" << gx << "\" y1=\"" << top - 4 << "\" y2=\"" << height - 2
    << "\" stroke=\"#212121\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>"
    << "<text x=\"" << gx << "\" y=\"" << top - 8 << "\" text-anchor=\"middle\">chance: " << percent(gamma)
    << "</text></svg>\n";
  return s.str();
}

// The banner's headline and explanation.
std::string banner(const document_verdict& v, const document_result& d, double alpha) {
  const std::string odds = odds_html(v.log10_p), p = p_html(v.log10_p);
  std::string correction;
  if (v.attributed && d.attribution)
    correction = ", corrected for the " + std::to_string(d.attribution->n_tried()) + " sub-keys tried";
  if (v.watermarked) {
    const std::string headline = v.attributed ? "Watermarked: written for " + account_html(v.account) : "Watermarked";
    return verdict_banner(true, headline,
                          "Text written without our key would look this green by chance " + odds +
                              " (p = " + p + correction + "; the threshold is " + significant(alpha) + ").",
                          "");
  }
  return verdict_banner(false, "Not watermarked",
                        "The evidence is not strong enough: text written without our key looks at least this green " +
                            odds + " (p = " + p + ", above the threshold " + significant(alpha) +
                            "). This is absence of evidence, not proof of absence.",
                        "");
}

// The tokens, coloured, with the best window outlined.
std::string highlighted_text(const document_result& d, const detection& det, const detect_run& run) {
  const int32_t h = run.params.scheme.context_width;
  const size_t n = std::min({d.tokens.size(), det.trace.size(), max_tokens_shown});
  const window_result& w = det.window;
  const auto at = [](int64_t pos) { return static_cast<size_t>(std::max<int64_t>(pos, 0)); };
  std::string s = "<div class=\"text\">";
  bool in_window = false;
  for (size_t i = 0; i < n; ++i) {
    if (w.found && i == at(w.begin)) {
      s += "<span class=\"win\"><span class=\"winlabel\">most marked stretch &#9656;</span>";
      in_window = true;
    }
    const int32_t id = d.tokens[i];
    s += token_span(style_of(det.trace[i]), reason_of(det.trace[i], h),
                    run.tok ? run.tok->token_text(id) : "[" + std::to_string(id) + "] ");
    if (in_window && i + 1 == at(w.end)) {
      s += "</span>";
      in_window = false;
    }
  }
  if (in_window) s += "</span>";
  s += "</div>\n";
  if (n < d.tokens.size())
    s += "<p class=\"note\">&hellip; " + grouped(static_cast<int64_t>(d.tokens.size() - n)) +
         " more tokens not shown (they are in the test).</p>\n";
  return s;
}

std::string window_note(const detection& det, double alpha) {
  const window_result& w = det.window;
  if (!w.found)
    return "<p class=\"note\">No stretch was searched: fewer tokens were counted than the smallest window.</p>\n";
  return "<p class=\"note\"><b>Outlined in blue: the most marked stretch</b> (" +
         grouped(static_cast<int64_t>(w.test.stat.score)) + " green of " + grouped(w.test.stat.scored) +
         " counted tokens): p = " + p_html(w.log10_p_corrected) + " after correction for the " +
         grouped(w.n_windows) + " windows tried (" + odds_html(w.log10_p_corrected) +
         " by chance). " +
         (w.log10_p_corrected <= std::log10(alpha)
              ? "It matters for text that is only partly watermarked, such as a quote inside other text."
              : "No stretch stands out: the outline only shows where the search looked hardest.") +
         "</p>\n";
}

// Every sub-key tried, with its corrected p-value.
std::string accounts_table(const attribution_result& a, double alpha) {
  std::string s = "<table class=\"accounts\"><tr><th>sub-key tried</th><th>green / counted</th><th>p</th>"
                  "<th>corrected p (&times; " +
                  std::to_string(a.n_tried()) + ")</th><th></th></tr>";
  const double log10_alpha = std::log10(alpha);
  for (size_t i = 0; i < a.accounts.size(); ++i) {
    const test_result& t = a.accounts[i].det.test;
    const bool match = t.stat.scored > 0 && a.corrected_log10_p(i) <= log10_alpha;
    s += std::string("<tr") + (match ? " class=\"match\"" : "") + "><td>" + account_html(a.accounts[i].account) +
         "</td><td>" + grouped(static_cast<int64_t>(t.stat.score)) + " / " + grouped(t.stat.scored) + "</td><td>" +
         p_html(t.log10_p) + "</td><td>" + p_html(a.corrected_log10_p(i)) + "</td><td>" +
         (match ? "&#10004; matches" : "") + "</td></tr>";
  }
  return s + "</table>\n";
}

}  // namespace

document_verdict verdict_of(const document_result& d, double alpha) {
  document_verdict v;
  if (d.attribution && d.attribution->significant(alpha)) {
    const account_test& best = d.attribution->accounts[d.attribution->best];
    v.det = &best.det;
    v.watermarked = true;
    v.log10_p = d.attribution->log10_p_corrected;
    v.attributed = true;
    v.account = best.account;
    return v;
  }
  v.det = &d.det;
  v.watermarked = d.det.test.significant(alpha);
  v.log10_p = d.det.test.log10_p;
  return v;
}

std::string account_html(const std::string& account) {
  return account.empty() ? std::string("the master key (no account)") : "account <b>" + html_escape(account) + "</b>";
}

std::string document_section(const document_result& d, const document_verdict& v, const detect_run& run,
                             size_t number) {
  const detection& det = *v.det;
  const double alpha = run.params.alpha, gamma = run.params.null.p();
  const test_result& t = det.test;
  std::string s = "<section class=\"doc\"><h2>" + std::to_string(number) + ". Document <code>" +
                  html_escape(display_id(d.id)) + "</code></h2>\n";
  s += banner(v, d, alpha);
  s += "<div class=\"facts\">" +
       fact_box(grouped(t.stat.scored), "tokens counted, of " + grouped(det.n_tokens - d.n_prompt) + " written") +
       fact_box(grouped(static_cast<int64_t>(t.stat.score)) + " green (" + percent(rate(t)) + ")",
                "about " + fixed(gamma * static_cast<double>(t.stat.scored), 0) + " (" + percent(gamma, 0) +
                    ") expected by chance") +
       fact_box("p = " + p_html(v.log10_p), odds_html(v.log10_p) + " by chance");
  if (d.attribution)
    s += fact_box(!v.attributed ? std::string("none") : v.account.empty() ? std::string("master key")
                                                                          : html_escape(v.account),
                  "account named (of " + std::to_string(d.attribution->n_tried()) + " sub-keys tried)");
  s += "</div>\n" + green_rate_bars(det, gamma);
  s += "<p class=\"legend\">" + legend_entry(token_style::green, "green: counted, in the green list") +
       legend_entry(token_style::red, "red: counted, not in it") +
       legend_entry(token_style::repeat, "repeated: not counted again") +
       legend_entry(token_style::skipped, "grey: too little context") + legend_entry(token_style::prompt, "prompt") +
       "</p>\n";
  if (v.attributed)
    s += "<p class=\"note\">Colours under the sub-key of " + account_html(v.account) +
         ". Hover over a token to see why it was or was not counted.</p>\n";
  else
    s += "<p class=\"note\">Hover over a token to see why it was or was not counted.</p>\n";
  s += highlighted_text(d, det, run) + window_note(det, alpha);
  if (d.attribution) s += accounts_table(*d.attribution, alpha);
  return s + "</section>\n";
}

}  // namespace tracemark::cli
