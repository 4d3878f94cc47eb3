// The HTML audit report (audit_report.h). Everything is inline: CSS in <style>, charts as
// SVG, no scripts. The style sheet, colours, escaping and p-values in words are shared with
// the detection report (report/html_report.h); the charts and the samples are the audit's.
#include "audit/audit_report.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

namespace tracemark::cli {

namespace {

// ------------------------------------------------------------------ text helpers

bool by_mass(const audit_evidence& e) { return e.statistic == audit_statistic::green_mass; }

// The green rate of the audit (0 when nothing was scored); for the green-mass statistic the
// green share of the returned probability mass.
double green_rate(const audit_evidence& e) {
  if (by_mass(e)) return e.green_mass.mass > 0 ? e.green_mass.green_mass / e.green_mass.mass : 0.0;
  return e.test.stat.scored > 0 ? e.test.stat.score / static_cast<double>(e.test.stat.scored) : 0.0;
}

// Repeats show as "not scored" (grey) here, as they always have: the audit's filters leave
// out many kinds of tokens and one grey keeps the samples readable.
token_style mark_style(audit_mark m) {
  switch (m) {
    case audit_mark::green: return token_style::green;
    case audit_mark::red: return token_style::red;
    case audit_mark::prompt: return token_style::prompt;
    default: return token_style::skipped;
  }
}

const char* mark_reason(audit_mark m, bool mass) {
  if (mass) {
    switch (m) {
      case audit_mark::green: return "scored: the suspect's next-token probabilities here lean towards green tokens";
      case audit_mark::red: return "scored: no lean towards green tokens here";
      case audit_mark::repeat: return "not scored: this context was already scored once";
      default: break;
    }
  }
  switch (m) {
    case audit_mark::green: return "scored: in the green list";
    case audit_mark::red: return "scored: not in the green list";
    case audit_mark::repeat: return "not scored: this (context, token) pair was already counted once";
    case audit_mark::no_context: return "not scored: too few tokens before it to form a context";
    case audit_mark::prompt: return "prompt: context only, never scored";
    case audit_mark::not_first_occurrence: return "not scored: its context already occurred earlier in this text";
    case audit_mark::prompt_context: return "not scored: its context occurs in a prompt (the suspect may have copied it)";
    case audit_mark::not_in_index: return "not scored: its context is not in the provider's index";
  }
  return "";
}

// ------------------------------------------------------------------ charts

// "Nice" axis ticks (1, 2, 5 x 10^k steps) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 5) {
  const double span = hi - lo;
  if (!(span > 0)) return {lo};
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push_back(t);
  return ticks;
}

std::string count_label(double v) {
  if (v >= 1e6) return significant(v / 1e6) + "M";
  if (v >= 1e3) return significant(v / 1e3) + "k";
  return significant(v);
}

// A plot area with a log10 x axis (tuples scored) and a linear y axis.
class svg_chart {
 public:
  svg_chart(double x_min, double x_max, double y_min, double y_max)
      : lx0_(std::log10(x_min)), lx1_(std::log10(x_max)), y0_(y_min), y1_(y_max) {
    if (lx1_ - lx0_ < 1e-9) lx1_ = lx0_ + 1.0;
    if (y1_ - y0_ < 1e-12) y1_ = y0_ + 1.0;
  }
  double px(double x) const { return left + (std::log10(x) - lx0_) / (lx1_ - lx0_) * (width - left - right); }
  double py(double y) const { return top + (y1_ - y) / (y1_ - y0_) * (height - top - bottom); }

  std::string begin(std::string_view title_id, std::string_view y_label, const std::string& y_format_suffix,
                    double y_scale, std::string_view x_label = "token choices scored so far") const {
    std::ostringstream s;
    s << "<svg class=\"chart\" viewBox=\"0 0 " << width << ' ' << height << "\" role=\"img\" aria-labelledby=\""
      << title_id << "\" xmlns=\"http://www.w3.org/2000/svg\">\n";
    s << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << width - left - right << "\" height=\""
      << height - top - bottom << "\" fill=\"#fafafa\" stroke=\"#bbb\"/>\n";
    for (double t : nice_ticks(y0_, y1_)) {
      s << "<line x1=\"" << left << "\" x2=\"" << width - right << "\" y1=\"" << py(t) << "\" y2=\"" << py(t)
        << "\" stroke=\"#e4e4e4\"/>";
      s << "<text x=\"" << left - 6 << "\" y=\"" << py(t) + 4 << "\" text-anchor=\"end\">"
        << significant(t * y_scale, 4) << y_format_suffix << "</text>\n";
    }
    for (double e = std::ceil(lx0_ - 1e-9); e <= lx1_ + 1e-9; e += 1.0) {
      const double x = std::pow(10.0, e);
      s << "<line x1=\"" << px(x) << "\" x2=\"" << px(x) << "\" y1=\"" << top << "\" y2=\"" << height - bottom
        << "\" stroke=\"#e4e4e4\"/>";
      s << "<text x=\"" << px(x) << "\" y=\"" << height - bottom + 16 << "\" text-anchor=\"middle\">"
        << count_label(x) << "</text>\n";
    }
    s << "<text x=\"" << (left + width - right) / 2 << "\" y=\"" << height - 4
      << "\" text-anchor=\"middle\">" << x_label << " (log scale)</text>\n";
    s << "<text transform=\"translate(14 " << (top + height - bottom) / 2
      << ") rotate(-90)\" text-anchor=\"middle\">" << y_label << "</text>\n";
    return s.str();
  }
  std::string hline(double y, const char* colour, std::string_view label) const {
    std::ostringstream s;
    s << "<line x1=\"" << left << "\" x2=\"" << width - right << "\" y1=\"" << py(y) << "\" y2=\"" << py(y)
      << "\" stroke=\"" << colour << "\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>";
    s << "<text x=\"" << width - right - 4 << "\" y=\"" << py(y) - 6 << "\" text-anchor=\"end\" fill=\"" << colour
      << "\">" << label << "</text>\n";
    return s.str();
  }
  static constexpr double width = 720, height = 300, left = 64, right = 16, top = 14, bottom = 42;

 private:
  double lx0_, lx1_, y0_, y1_;
};

std::string polyline(const std::vector<std::pair<double, double>>& pts, const char* colour) {
  std::ostringstream s;
  s << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"2.5\" points=\"";
  for (const auto& [x, y] : pts) s << x << ',' << y << ' ';
  s << "\"/>\n";
  return s.str();
}

// Green mass: the green share of the probability mass so far, against chance (no band: the
// test is a bound, not an interval).
std::string green_share_chart(const audit_evidence& e) {
  std::vector<audit_curve_point> pts;
  for (const audit_curve_point& p : e.curve)
    if (p.scored > 0 && p.mass > 0) pts.push_back(p);
  if (pts.size() < 2) return "<p class=\"note\">Too few contexts were scored to draw this chart.</p>\n";
  double lo = e.null.p(), hi = e.null.p();
  for (const audit_curve_point& p : pts) {
    lo = std::min(lo, p.score / p.mass);
    hi = std::max(hi, p.score / p.mass);
  }
  const double pad = 0.05 * (hi - lo) + 0.005;
  svg_chart c(static_cast<double>(pts.front().scored), static_cast<double>(pts.back().scored),
              std::max(0.0, lo - pad), std::min(1.0, hi + pad));
  std::string s = c.begin("chart-rate", "green share of the probability", "%", 100.0, "contexts scored so far");
  std::vector<std::pair<double, double>> line;
  for (const audit_curve_point& p : pts) line.emplace_back(c.px(static_cast<double>(p.scored)), c.py(p.score / p.mass));
  s += polyline(line, "#0d47a1");
  s += c.hline(e.null.p(), "#555", "chance level: " + percent(e.null.p()));
  s += "</svg>\n";
  return s;
}

std::string green_rate_chart(const audit_evidence& e) {
  if (by_mass(e)) return green_share_chart(e);
  std::vector<audit_curve_point> pts;
  for (const audit_curve_point& p : e.curve)
    if (p.scored > 0) pts.push_back(p);
  if (pts.size() < 2) return "<p class=\"note\">Too few token choices were scored to draw this chart.</p>\n";
  std::vector<score_interval> band;
  double lo = e.null.p(), hi = e.null.p();
  for (const audit_curve_point& p : pts) {
    band.push_back(e.null.interval(test_statistic{p.scored, p.score}, e.confidence));
    const double rate = p.score / static_cast<double>(p.scored);
    lo = std::min({lo, rate, band.back().low});
    hi = std::max({hi, rate, band.back().high});
  }
  const double pad = 0.05 * (hi - lo) + 0.005;
  svg_chart c(static_cast<double>(pts.front().scored), static_cast<double>(pts.back().scored),
              std::max(0.0, lo - pad), std::min(1.0, hi + pad));
  std::string s = c.begin("chart-rate", "share of green choices", "%", 100.0);
  std::ostringstream poly;
  poly << "<polygon fill=\"#90caf9\" fill-opacity=\"0.45\" points=\"";
  for (size_t i = 0; i < pts.size(); ++i)
    poly << c.px(static_cast<double>(pts[i].scored)) << ',' << c.py(band[i].high) << ' ';
  for (size_t i = pts.size(); i-- > 0;)
    poly << c.px(static_cast<double>(pts[i].scored)) << ',' << c.py(band[i].low) << ' ';
  poly << "\"/>\n";
  s += poly.str();
  std::vector<std::pair<double, double>> line;
  for (const audit_curve_point& p : pts)
    line.emplace_back(c.px(static_cast<double>(p.scored)),
                      c.py(static_cast<double>(p.score) / static_cast<double>(p.scored)));
  s += polyline(line, "#0d47a1");
  s += c.hline(e.null.p(), "#555", "chance level: " + percent(e.null.p()));
  s += "</svg>\n";
  return s;
}

std::string evidence_chart(const audit_evidence& e) {
  std::vector<audit_curve_point> pts;
  for (const audit_curve_point& p : e.curve)
    if (p.scored > 0) pts.push_back(p);
  if (pts.size() < 2) return "";
  const double threshold = -std::log10(e.alpha);
  double hi = threshold;
  for (const audit_curve_point& p : pts) hi = std::max(hi, -p.log10_p);
  svg_chart c(static_cast<double>(pts.front().scored), static_cast<double>(pts.back().scored), 0.0, hi * 1.08);
  std::string s = c.begin("chart-evidence", "evidence: &minus;log&#8321;&#8320; p", "", 1.0,
                          by_mass(e) ? "contexts scored so far" : "token choices scored so far");
  std::vector<std::pair<double, double>> line;
  for (const audit_curve_point& p : pts) line.emplace_back(c.px(static_cast<double>(p.scored)), c.py(-p.log10_p));
  s += polyline(line, "#6a1b9a");
  s += c.hline(threshold, "#d32f2f", "decision threshold (p = " + significant(e.alpha) + ")");
  s += "</svg>\n";
  return s;
}

// ------------------------------------------------------------------ samples

std::string sample_html(const audit_sample& s, const token_text_fn& token_text, bool reading, bool mass) {
  constexpr size_t max_tokens = 600;  // keep the page readable
  auto text_of = [&](int32_t t) { return token_text ? token_text(t) : "[" + std::to_string(t) + "]"; };
  std::ostringstream out;
  out << "<figure class=\"sample\"><figcaption>" << html_escape(s.id) << "</figcaption><div class=\"text\">";
  const size_t n = std::min(s.tokens.size(), max_tokens);
  for (size_t i = 0; i < n; ++i) {
    const audit_mark m = i < s.marks.size() ? s.marks[i] : audit_mark::no_context;
    std::string title = mark_reason(m, mass);
    if (reading && i < s.scored_tokens.size() && s.scored_tokens[i] >= 0 &&
        (m == audit_mark::green || m == audit_mark::red || m == audit_mark::repeat))
      title = "the suspect's guess here was \u201c" + text_of(s.scored_tokens[i]) + "\u201d; " + title;
    out << token_span(mark_style(m), title, text_of(s.tokens[i]));
  }
  out << "</div>";
  if (n < s.tokens.size())
    out << "<p class=\"note\">&hellip; " << grouped(static_cast<int64_t>(s.tokens.size() - n))
        << " more tokens not shown.</p>";
  int64_t green = 0, red = 0;
  for (audit_mark m : s.marks) {
    green += m == audit_mark::green;
    red += m == audit_mark::red;
  }
  if (mass)
    out << "<p class=\"note\">" << grouped(green + red) << " contexts scored in this text, " << grouped(green)
        << " of them leaning towards green tokens.</p></figure>\n";
  else
    out << "<p class=\"note\">" << grouped(green) << " green and " << grouped(red)
        << " red scored choices in this text.</p></figure>\n";
  return out.str();
}

const char* mode_words(audit_mode m) {
  switch (m) {
    case audit_mode::reading:
      return "white box (reading mode): our own watermarked texts were fed to the suspect model, and its guess for "
             "each next token was checked against our secret green lists";
    case audit_mode::suspect_url:
      return "black box: the suspect was asked for completions over its API, and the tokens it wrote were "
             "checked against our secret green lists";
    case audit_mode::suspect_outputs:
      return "black box: a collection of the suspect's outputs was checked against our secret green lists";
  }
  return "";
}

// The method line under the title: which door and which statistic.
std::string method_line(const audit_evidence& e) {
  const char* mode = e.mode == audit_mode::reading       ? "white box (reading mode)"
                     : e.mode == audit_mode::suspect_url ? "black box over the suspect's API"
                                                         : "black box from a dump of the suspect's outputs";
  std::string stat = by_mass(e) ? "green mass of the suspect's returned top-" + std::to_string(e.top_logprobs) +
                                      " next-token probabilities (p-value: Chernoff bound)"
                                : std::string(e.mode == audit_mode::reading ? "the suspect's top-1 guesses"
                                                                            : "the tokens the suspect wrote") +
                                      " (exact binomial test)";
  return "<p class=\"sub\">Mode: " + std::string(mode) + " (<code>" + std::string(audit_mode_name(e.mode)) +
         "</code>) · Statistic: " + stat + " (<code>" + std::string(audit_statistic_name(e.statistic)) +
         "</code>)</p>\n";
}


}  // namespace

std::string render_audit_report(const audit_evidence& e, const token_text_fn& token_text,
                                std::string_view generated_at) {
  std::ostringstream h;
  h << page_begin(std::string("tracemark audit: ") + (e.detected() ? "radioactive" : "not detected") + " — " +
                  e.suspect);
  h << "<h1>Provenance audit</h1><p class=\"sub\">Suspect: <code>" << html_escape(e.suspect) << "</code> · "
    << html_escape(generated_at) << "</p>\n" << method_line(e);

  // The verdict, first and in plain words.
  const std::string p = p_html(e.test.log10_p);
  const std::string odds = odds_html(e.test.log10_p);
  if (e.detected())
    h << verdict_banner(true, "Radioactive: trained on our watermarked text",
                        "The suspect very likely learned from text watermarked with our key. A model that never saw "
                        "that text would produce a result this strong by chance " +
                            odds + " (p = " + p + ").");
  else
    h << verdict_banner(false, "Not detected",
                        "The evidence is not strong enough to say that the suspect learned from text watermarked "
                        "with our key: a result like this happens by chance " +
                            odds + " (p = " + p + "). This is absence of evidence, not proof of absence.");
  if (e.test.stat.scored == 0)
    h << "<p class=\"warn\">Nothing was scored. Check the inputs and that the scheme settings match the key's "
         "watermark.</p>\n";

  h << "<div class=\"facts\">"
    << fact_box(grouped(e.test.stat.scored), by_mass(e) ? "contexts scored" : "token choices scored")
    << fact_box(percent(green_rate(e)), std::string(by_mass(e) ? "of the probability was on green tokens"
                                                               : "were green") +
                                            " (chance: " + percent(e.null.p()) + ")")
    << fact_box("p = " + p, odds + " by chance")
    << fact_box(grouped(e.usage.tokens), "tokens read in " + grouped(e.usage.documents) + " texts") << "</div>\n";

  h << "<h2>How to read this</h2><p>When our service writes text, a secret key splits the vocabulary into "
       "&ldquo;green&rdquo; and &ldquo;red&rdquo; words at every step, and our model is nudged towards green ones. "
       "A model trained on that text picks up the habit. Here, ";
  if (by_mass(e))
    h << "the suspect was asked, at every step of its answers, how likely it found each of its top "
      << e.top_logprobs << " next words, and we measured how much of that probability fell on green words. Without "
      << "that training, about " << percent(e.null.p()) << " would by chance; we measured " << percent(green_rate(e))
      << " (" << significant(e.green_mass.green_mass, 4) << " of " << significant(e.green_mass.mass, 4) << ", over "
      << grouped(e.test.stat.scored)
      << " distinct contexts). The p-value is a proven upper bound (Chernoff) on the probability of a share at "
         "least this high by chance; the verdict is &ldquo;radioactive&rdquo; when it is below "
      << alpha_words(e.alpha)
      << ", fixed before the audit. Each distinct context (the same preceding words) is counted once, and contexts "
         "the suspect could have copied from our prompts are left out, so repeated text cannot inflate the "
         "evidence.</p>\n";
  else
    h << mode_words(e.mode) << ". Without that training, about " << percent(e.null.p())
      << " of its choices would be green by chance; we measured " << percent(green_rate(e)) << " ("
      << grouped(static_cast<int64_t>(e.test.stat.score)) << " of " << grouped(e.test.stat.scored) << "; with "
      << percent(e.confidence, 0) << " confidence the true share lies between " << percent(e.interval.low) << " and "
      << percent(e.interval.high)
      << "). The p-value is the exact probability of a share at least this high by chance; the verdict is "
         "&ldquo;radioactive&rdquo; when it is below "
      << alpha_words(e.alpha)
      << ", fixed before the audit. Each distinct choice (the same preceding words followed by the same word) is "
         "counted once, and choices the suspect could have copied from our prompts are left out, so repeated text "
         "cannot inflate the evidence.</p>\n";

  if (by_mass(e))
    h << "<h2>Green probability against chance</h2><p class=\"note\">Blue line: the share of the suspect's "
         "probability on green words as the audit went on; dashed: the share expected by chance. A line that stays "
         "above the dashed one is evidence of training on our text.</p>\n"
      << green_rate_chart(e);
  else
    h << "<h2>Green choices against chance</h2><p class=\"note\">Blue line: the share of green choices as the "
         "audit went on; shaded: its "
      << percent(e.confidence, 0)
      << " confidence band; dashed: the share expected by chance. A band that stays above the dashed line is "
         "evidence of training on our text.</p>\n"
      << green_rate_chart(e);
  const std::string ev_chart = evidence_chart(e);
  if (!ev_chart.empty())
    h << "<h2>Strength of the evidence</h2><p class=\"note\">Each step up the scale makes the result ten times "
         "less likely by chance. The verdict is &ldquo;radioactive&rdquo; when the line ends above the red "
         "threshold.</p>\n"
      << ev_chart;

  if (!e.samples.empty()) {
    h << "<h2>Sample of scored text</h2><p class=\"legend\">"
      << legend_entry(token_style::green, by_mass(e) ? "green: the suspect's probabilities after the preceding "
                                                       "words lean towards green words"
                                                     : "green: in the green list")
      << legend_entry(token_style::red, by_mass(e) ? "red: they do not" : "red: not in it")
      << legend_entry(token_style::skipped, "grey: not scored") << legend_entry(token_style::prompt, "prompt")
      << "</p>";
    if (e.mode == audit_mode::reading)
      h << "<p class=\"note\">Reading mode: the text is our own watermarked output. A coloured token marks a "
           "position where the suspect's own guess for that token was scored; hover over it to see the guess.</p>";
    else
      h << "<p class=\"note\">Hover over a token to see why it was or was not scored.</p>";
    for (const audit_sample& s : e.samples)
      h << sample_html(s, token_text, e.mode == audit_mode::reading, by_mass(e));
  }

  const audit_filter_counts& f = e.filters;
  h << "<h2>Details</h2><table>"
    << "<tr><th>Suspect</th><td><code>" << html_escape(e.suspect) << "</code> (" << audit_mode_name(e.mode) << ")</td></tr>"
    << "<tr><th>Key fingerprint</th><td><code>" << html_escape(e.key_fingerprint) << "</code></td></tr>"
    << "<tr><th>Watermark scheme</th><td><code>" << html_escape(scheme_description(e.scheme)) << "</code></td></tr>"
    << "<tr><th>Statistic</th><td><code>" << audit_statistic_name(e.statistic) << "</code>";
  if (by_mass(e)) h << " (top " << e.top_logprobs << " log-probabilities per position)";
  h << "</td></tr>";
  if (by_mass(e))
    h << "<tr><th>Contexts scored / green mass / total mass</th><td>" << grouped(e.test.stat.scored) << " / "
      << significant(e.green_mass.green_mass, 6) << " / " << significant(e.green_mass.mass, 6) << "</td></tr>"
      << "<tr><th>Green share of the mass</th><td>" << significant(green_rate(e), 4) << " against &gamma; = "
      << significant(e.null.p(), 6) << "</td></tr>"
      << "<tr><th>p-value (Chernoff bound)</th><td>" << p << " (log<sub>10</sub> p &le; "
      << significant(e.test.log10_p, 5) << ", z = " << significant(e.test.z, 4) << ")</td></tr>";
  else
    h << "<tr><th>Distinct choices scored / green</th><td>" << grouped(e.test.stat.scored) << " / "
      << grouped(static_cast<int64_t>(e.test.stat.score)) << "</td></tr>"
      << "<tr><th>Green rate (" << percent(e.confidence, 0) << " interval)</th><td>" << significant(green_rate(e), 4)
      << " (" << significant(e.interval.low, 4) << " to " << significant(e.interval.high, 4) << ") against &gamma; = "
      << significant(e.null.p(), 6) << "</td></tr>"
      << "<tr><th>Exact p-value</th><td>" << p << " (log<sub>10</sub> p = " << significant(e.test.log10_p, 5)
      << ", z = " << significant(e.test.z, 4) << ")</td></tr>";
  h << "<tr><th>Threshold &alpha;</th><td>" << significant(e.alpha) << "</td></tr>"
    << "<tr><th>Texts / tokens / positions</th><td>" << grouped(e.usage.documents) << " / "
    << grouped(e.usage.tokens) << " / " << grouped(e.usage.positions) << "</td></tr>";
  if (e.mode == audit_mode::suspect_url)
    h << "<tr><th>API queries</th><td>" << grouped(e.usage.queries) << " (" << grouped(e.usage.cache_hits)
      << " from the cache, " << grouped(e.usage.retries) << " retries)</td></tr>";
  if (e.mode != audit_mode::reading)
    h << "<tr><th>Tokens written by the suspect</th><td>" << grouped(e.usage.completion_tokens) << "</td></tr>";
  h << "<tr><th>Left out: " << (by_mass(e) ? "repeated contexts" : "repeated choices") << "</th><td>"
    << grouped(f.dedup_repeats) << "</td></tr>"
    << "<tr><th>Left out: context seen earlier in the text</th><td>" << grouped(f.not_first_occurrence) << "</td></tr>"
    << "<tr><th>Left out: context occurs in a prompt</th><td>" << grouped(f.prompt_context) << "</td></tr>"
    << "<tr><th>Left out: context not in the index</th><td>" << grouped(f.not_in_index);
  if (!e.index_path.empty())
    h << " (index <code>" << html_escape(e.index_path) << "</code>, " << grouped(e.index_contexts) << " contexts)";
  h << "</td></tr><tr><th>Left out: too little context</th><td>" << grouped(f.no_context) << "</td></tr></table>\n";
  h << page_end(
      "Produced by tracemark. The method and its validity argument: docs/AUDIT_DESIGN.md; the same numbers in "
      "machine-readable form: <code>tracemark audit --json</code>.");
  return h.str();
}

}  // namespace tracemark::cli
