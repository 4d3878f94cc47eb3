// tracemark audit: was a suspect model trained on our watermarked outputs? One exact
// test over distinct (context, token) tuples, through one of three doors to the suspect
// (docs/AUDIT_DESIGN.md):
//   --suspect-model GGUF      white box, reading mode: the provider's marked texts (--texts)
//                             are teacher-forced through the suspect, its top-1 predictions scored
//   --suspect-url URL         black box: completions of --prompts from an OpenAI-compatible API
//   --suspect-outputs JSONL   black box: a dump of the suspect's completions
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "audit/audit_client.h"
#include "audit/audit_inputs.h"
#include "audit/audit_logprobs.h"
#include "audit/audit_report.h"
#include "common/sign_output.h"
#include "common/cli.h"
#include "common/scheme_options.h"
#include "tracemark/audit.h"
#include "tracemark/evidence.h"
#include "tracemark/error.h"
#include "tracemark/key.h"
#include "tracemark/llama/teacher_forcing.h"
#include "tracemark/llama/tokenizer.h"
#include "tracemark/scheme.h"

namespace tracemark::cli {

namespace {

struct audit_flags {
  std::string key_path;
  scheme_options scheme;
  std::string vocab_path;
  std::string suspect_model, suspect_url, suspect_outputs;
  std::vector<std::string> texts;
  std::string prompts_file;
  std::string index_path;
  bool no_prompt_filter = false;
  bool global_first_occurrence = false;
  std::string statistic = "sampled";
  int32_t top_logprobs = -1;  // -1: not given (20 with green-mass)
  bool no_token_ids = false;
  double alpha = 1e-6;
  std::string json_out;
  std::string report_out;
  std::string sign_key;
  int64_t keep_samples = 3;
  bool quiet = false;
  // reading mode
  int32_t threads = 1;
  int32_t n_ctx = 512;
  // --suspect-url
  completion_params gen;
  int32_t n = 1;
  uint64_t seed = 0;
  int concurrency = 4;
  double timeout_s = 60.0;
  int retries = 5;
  double retry_delay_s = 0.5;
  std::string cache_path = "tracemark-audit-cache.jsonl";
  bool no_cache = false;
  std::string api_key_env = "TRACEMARK_SUSPECT_API_KEY";
};

const char* const audit_footer =
    "Modes (exactly one):\n"
    "  --suspect-model GGUF --texts MARKED.jsonl   white box (reading mode): teacher-force the provider's own\n"
    "        marked outputs through the suspect and score its top-1 prediction at each position against the\n"
    "        provider's context. A position counts only at the first occurrence of its context in its text.\n"
    "  --suspect-url URL --prompts FILE --vocab GGUF   black box: POST URL/v1/completions for every prompt\n"
    "        (--n completions each, seeds --seed, --seed+1, ...), tokenize the completions, score them.\n"
    "        Responses are cached in --cache: rerunning an interrupted audit sends only the missing requests.\n"
    "        The API key is read from the environment variable named by --api-key-env, never printed.\n"
    "  --suspect-outputs DUMP.jsonl   black box from a dump: {\"prompt\": \"...\", \"text\": \"...\"} (with --vocab)\n"
    "        or {\"prompt_tokens\": [ids], \"tokens\": [ids]} per line.\n"
    "\n"
    "Statistics (--statistic):\n"
    "  sampled      (default) the suspect's sampled tokens (reading mode: its top-1 predictions), exact binomial test.\n"
    "  green-mass   black box with log-probabilities: the suspect's returned top-K distribution at each distinct\n"
    "               context (--top-logprobs K, default 20), scored by the probability it puts on green tokens; the\n"
    "               p-value is a Chernoff bound, valid under the null. --suspect-url asks for \"logprobs\": K (and\n"
    "               \"return_tokens\" for token ids, unless --no-token-ids); a dump needs a \"logprobs\" object per line.\n"
    "\n"
    "Every distinct (seed, token) tuple is scored once over the whole audit. Black box: tuples whose\n"
    "context occurs in any prompt are dropped (the suspect may copy the prompt). --index FILE (from\n"
    "'tracemark index') keeps only contexts that occur in the provider's marked outputs.\n"
    "The scheme flags must be those the provider's text was marked with.\n"
    "\n"
    "Output: a summary on the terminal; --json FILE writes the evidence record (docs/AUDIT_DESIGN.md §6):\n"
    "  {\"mode\", \"scheme\", \"key_fingerprint\", \"scored\", \"green\", \"gamma\", \"green_rate\", \"ci_low\",\n"
    "   \"ci_high\", \"log10_p\", \"alpha\", \"verdict\": \"radioactive\"|\"not_detected\", \"filters\": {...},\n"
    "   \"usage\": {...}, \"curve\": [...], \"samples\": [...]}\n"
    "--report FILE writes the same evidence as one self-contained HTML page for non-specialists: the verdict,\n"
    "the p-value in words, charts of the green rate against gamma and of the evidence against the threshold,\n"
    "and --keep-samples texts with their green/red tokens highlighted (no network access needed to view it).\n"
    "\n"
    "Examples:\n"
    "  tracemark audit --key provider.key -H 2 --suspect-model student.gguf --texts marked.jsonl\n"
    "  tracemark audit --key provider.key -H 2 --vocab tokenizer.gguf --suspect-url http://127.0.0.1:8080 \\\n"
    "      --prompts prompts.txt --n 4 --index provider.idx --json evidence.json --report audit.html\n"
    "\n";

// "p = 3.2e-15" or, past the double range, "p = 10^-1234.5".
std::string p_words(double log10_p) {
  if (log10_p > -300) return "p = " + significant(std::pow(10.0, log10_p));
  return "p = 10^" + significant(log10_p, 6);
}

// Writes `text` to `path` ("-": standard output); false when it could not be written.
bool write_output(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text << std::flush;
    return static_cast<bool>(std::cout);
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

// "2026-11-29 17:48 UTC"
std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

void print_summary(std::ostream& out, const audit_evidence& e, const std::string& api_note,
                   const std::string& cache_note, const std::string& input_note) {
  const test_result& t = e.test;
  const double rate = t.stat.scored > 0 ? t.stat.score / static_cast<double>(t.stat.scored) : 0.0;
  out << "tracemark audit (" << audit_mode_name(e.mode) << ", statistic " << audit_statistic_name(e.statistic)
      << ") of " << e.suspect << "\n";
  out << "  key " << e.key_fingerprint << ", scheme " << scheme_description(e.scheme) << "\n";
  if (e.statistic == audit_statistic::green_mass) {
    const green_mass_result& g = e.green_mass;
    out << "  scored " << g.contexts << " distinct contexts (top " << e.top_logprobs << " tokens each): green mass "
        << significant(g.green_mass, 6) << " of " << significant(g.mass, 6) << " = green share "
        << significant(g.mass > 0 ? g.green_mass / g.mass : 0.0, 4) << " against " << significant(e.null.mean(1), 4)
        << " by chance\n";
    out << "  " << p_words(t.log10_p) << " (Chernoff bound: log10 p <= " << significant(t.log10_p, 4)
        << ", z = " << significant(t.z, 3) << ")\n";
  } else {
    out << "  scored " << t.stat.scored << " distinct tuples, " << t.stat.score << " green: green rate "
        << significant(rate, 4) << " (" << significant(100 * e.confidence, 3) << "% CI "
        << significant(e.interval.low, 4) << " to " << significant(e.interval.high, 4) << ") against "
        << significant(e.null.mean(1), 4) << " by chance\n";
    out << "  " << p_words(t.log10_p) << " (log10 p = " << significant(t.log10_p, 4) << ", z = " << significant(t.z, 3)
        << ")\n";
  }
  if (e.detected())
    out << "  verdict: RADIOACTIVE at alpha = " << significant(e.alpha)
        << ": the suspect's tokens are greener than chance allows; it very likely learned from text marked "
           "with this key\n";
  else
    out << "  verdict: not detected at alpha = " << significant(e.alpha)
        << ": no significant evidence that the suspect learned from text marked with this key (absence of "
           "evidence, not proof of absence)\n";
  if (t.stat.scored == 0) out << "  warning: nothing was scored; check the inputs and the scheme flags\n";
  const audit_filter_counts& f = e.filters;
  out << "  dropped: " << f.dedup_repeats
      << (e.statistic == audit_statistic::green_mass ? " repeated contexts, " : " repeated tuples, ") << f.not_first_occurrence
      << " not first occurrence, " << f.prompt_context << " prompt contexts, " << f.not_in_index
      << " not in index, " << f.no_context << " without context\n";
  out << "  used: " << e.usage.documents << " documents, " << e.usage.tokens << " tokens, " << e.usage.positions
      << " positions";
  if (e.mode == audit_mode::suspect_url)
    out << ", " << e.usage.queries << " queries (" << e.usage.cache_hits << " answered from the cache, "
        << e.usage.retries << " retries)";
  out << "\n";
  if (!e.index_path.empty()) out << "  index: " << e.index_path << " (" << e.index_contexts << " contexts)\n";
  if (!api_note.empty()) out << "  " << api_note << "\n";
  if (!cache_note.empty()) out << "  " << cache_note << "\n";
  if (!input_note.empty()) out << "  " << input_note << "\n";
}

// What the reader skipped or found empty, so that nothing is dropped unseen.
std::string input_note_of(const std::string& path, const read_stats& rs) {
  if (rs.error_records == 0 && rs.empty_answers == 0) return "";
  return "input " + path + ": " + std::to_string(rs.empty_answers) + " empty answers (nothing to score), " +
         std::to_string(rs.error_records) + " error records skipped";
}

int run_audit(const audit_flags& f) {
  const int n_modes = !f.suspect_model.empty() + !f.suspect_url.empty() + !f.suspect_outputs.empty();
  if (n_modes != 1)
    throw usage_error(n_modes == 0 ? "name the suspect: --suspect-model GGUF, --suspect-url URL or --suspect-outputs FILE"
                                   : "--suspect-model, --suspect-url and --suspect-outputs exclude each other");
  const audit_mode mode = !f.suspect_model.empty() ? audit_mode::reading
                          : !f.suspect_url.empty() ? audit_mode::suspect_url
                                                   : audit_mode::suspect_outputs;
  if (mode == audit_mode::reading && f.texts.empty())
    throw usage_error("--suspect-model needs --texts FILE: the provider's own marked outputs to read");
  if (mode != audit_mode::reading && !f.texts.empty()) throw usage_error("--texts is for --suspect-model only");
  if (mode == audit_mode::suspect_url && f.prompts_file.empty())
    throw usage_error("--suspect-url needs --prompts FILE");
  if (!f.sign_key.empty() && (f.json_out.empty() || f.json_out == "-"))
    throw usage_error("--sign: give --json FILE; the signature of the record is written next to it as FILE.sig");
  if (mode == audit_mode::suspect_url && f.vocab_path.empty())
    throw usage_error("--suspect-url needs --vocab GGUF: the provider's tokenizer, to tokenize the completions");
  if (mode != audit_mode::suspect_url && !f.prompts_file.empty())
    throw usage_error("--prompts is for --suspect-url only");
  if (!(f.alpha > 0.0 && f.alpha < 1.0)) throw usage_error("--alpha must lie strictly between 0 and 1");
  if (f.keep_samples < 0) throw usage_error("--keep-samples must be >= 0");
  if (f.json_out == "-" && f.report_out == "-")
    throw usage_error("--json - and --report - cannot both write to standard output");
  if (f.n < 1) throw usage_error("--n must be at least 1");
  if (f.concurrency < 1) throw usage_error("--concurrency must be at least 1");
  if (f.retries < 0) throw usage_error("--retries must be >= 0");
  if (!(f.timeout_s > 0)) throw usage_error("--timeout must be positive");
  if (!(f.retry_delay_s >= 0)) throw usage_error("--retry-delay must be >= 0");
  if (f.gen.max_tokens < 1) throw usage_error("--max-tokens must be at least 1");
  if (f.threads < 1) throw usage_error("--threads must be at least 1");
  const bool by_mass = f.statistic == "green-mass";
  if (!by_mass && f.statistic != "sampled")
    throw usage_error("--statistic must be sampled or green-mass (got " + f.statistic + ")");
  if (by_mass && mode == audit_mode::reading)
    throw usage_error("--statistic green-mass scores returned distributions: use --suspect-url, or --suspect-outputs "
                      "with \"logprobs\" in each record");
  if (!by_mass && (f.top_logprobs >= 0 || f.no_token_ids))
    throw usage_error("--top-logprobs and --no-token-ids are for --statistic green-mass");
  if (by_mass && f.top_logprobs < -1) throw usage_error("--top-logprobs must be >= 0");
  const int32_t top_k = by_mass ? (f.top_logprobs >= 0 ? f.top_logprobs : 20) : 0;

  const std::optional<key> master = load_key(f.key_path);
  std::optional<signing_key> signer;  // a bad signing key fails before the audit's queries
  if (!f.sign_key.empty()) signer.emplace(load_signing_key(f.sign_key));

  // The provider's tokenizer: --vocab, or in reading mode the suspect itself (which must
  // share the provider's vocabulary for its predictions to mean anything).
  provider_scheme ps;
  try {
    ps = load_provider_scheme(*master, !f.vocab_path.empty() ? f.vocab_path : f.suspect_model, f.scheme);
  } catch (const tracemark::error& e) {
    print_error("audit", e.what());
    return e.code() == errc::io ? exit_io : exit_usage;
  }
  const std::unique_ptr<llama_tokenizer>& vocab = ps.tokenizer;
  const scheme_config& config = ps.config;
  const std::optional<scheme>& sch = ps.scheme;

  std::optional<context_index> index;
  if (!f.index_path.empty()) {
    try {
      index.emplace(context_index::load(f.index_path, *master, *sch));
    } catch (const tracemark::error& e) {
      print_error("audit", e.what());
      return e.code() == errc::io ? exit_io : exit_usage;
    }
  }

  audit_options opts;
  opts.alpha = f.alpha;
  opts.prompt_filter = !f.no_prompt_filter;
  opts.first_occurrence_global = f.global_first_occurrence;
  opts.index = index ? &*index : nullptr;
  opts.n_samples = static_cast<size_t>(f.keep_samples);
  opts.statistic = by_mass ? audit_statistic::green_mass : audit_statistic::sampled;
  audit_accumulator acc(*sch, opts);
  // Token strings without ids are mapped with the provider's vocabulary (audit_logprobs.h).
  std::optional<token_string_map> strings;
  if (by_mass && vocab) strings.emplace(*vocab);
  const token_string_map* string_map = strings ? &*strings : nullptr;
  std::string api_note, cache_note, input_note;

  try {
    if (mode == audit_mode::reading) {
      teacher_forcer tf(f.suspect_model, f.n_ctx, f.threads);
      if (tf.n_vocab() != config.vocab_size)
        throw usage_error("the suspect model has " + std::to_string(tf.n_vocab()) +
                          " tokens but the scheme's vocabulary has " + std::to_string(config.vocab_size) +
                          ": reading mode needs the provider's tokenizer");
      for (const std::string& path : f.texts) {
        read_stats rs;
        const std::vector<audit_document> docs = read_documents(path, vocab.get(), config.vocab_size, rs);
        if (const std::string note = input_note_of(path, rs); !note.empty())
          input_note += (input_note.empty() ? "" : "\n  ") + note;
        for (const audit_document& d : docs) {
          if (d.tokens.empty()) continue;  // an empty text without a prompt: nothing to read
          const std::vector<int32_t> pred = tf.top1(d.tokens);
          acc.add_reading(d.tokens, pred, d.n_prompt, d.id);
        }
      }
    } else if (mode == audit_mode::suspect_outputs) {
      read_stats rs;
      const std::vector<audit_document> docs = read_documents(f.suspect_outputs, vocab.get(), config.vocab_size, rs);
      input_note = input_note_of(f.suspect_outputs, rs);
      if (by_mass) {
        std::vector<distribution_document> dd;
        for (const audit_document& d : docs) {
          if (d.logprobs.is_null())
            throw audit_input_error(false, d.id + ": --statistic green-mass needs a \"logprobs\" object in every record");
          dd.push_back(distribution_document_of(
              std::vector<int32_t>(d.tokens.begin(), d.tokens.begin() + static_cast<std::ptrdiff_t>(d.n_prompt)),
              d.logprobs, string_map, config.vocab_size, d.id));
          const auto completion = std::span<const int32_t>(d.tokens).subspan(static_cast<size_t>(d.n_prompt));
          const auto returned = std::span<const int32_t>(dd.back().tokens).subspan(static_cast<size_t>(d.n_prompt));
          if (d.token_ids && !completion.empty() && !std::equal(completion.begin(), completion.end(),
                                                                 returned.begin(), returned.end()))
            throw audit_input_error(false, d.id + ": its \"tokens\" differ from the tokens of its \"logprobs\"");
        }
        add_distribution_documents(acc, dd);
      } else {
        // The prompt filter is global: every prompt first, then the completions.
        for (const audit_document& d : docs)
          acc.add_prompt(std::span<const int32_t>(d.tokens).first(static_cast<size_t>(d.n_prompt)));
        for (const audit_document& d : docs) acc.add_completion(d.tokens, d.n_prompt, d.id);
      }
    } else {
      const std::vector<std::string> prompts = read_prompts(f.prompts_file);
      std::vector<completion_job> jobs;
      for (const std::string& p : prompts)
        for (int32_t k = 0; k < f.n; ++k) jobs.push_back({p, f.seed + static_cast<uint64_t>(k)});
      client_options co;
      co.base_url = f.suspect_url;
      const char* key_value = f.api_key_env.empty() ? nullptr : std::getenv(f.api_key_env.c_str());
      co.api_key = key_value ? key_value : "";
      api_note = co.api_key.empty() ? "API key: none ($" + f.api_key_env + " is not set)"
                                    : "API key: from $" + f.api_key_env;
      co.concurrency = f.concurrency;
      co.max_attempts = f.retries + 1;
      co.timeout_s = f.timeout_s;
      co.backoff_initial_s = f.retry_delay_s;
      completion_cache cache(f.no_cache ? std::string() : f.cache_path);
      fetch_stats fs;
      std::vector<completion_result> results;
      completion_params gen = f.gen;
      if (by_mass) {
        gen.logprobs = top_k;
        gen.return_tokens = !f.no_token_ids;
      }
      try {
        results = fetch_completions(jobs, gen, co, cache, fs);
      } catch (const fetch_error& e) {
        print_error("audit", std::string(e.what()) +
                                 (cache.path().empty() ? std::string()
                                                       : "; " + std::to_string(cache.size()) +
                                                             " completions are cached in " + cache.path() +
                                                             ": rerun to resume"));
        return exit_io;
      } catch (const std::invalid_argument& e) {
        throw usage_error(e.what());
      }
      if (!cache.path().empty())
        cache_note = "cache: " + cache.path() + " (" + std::to_string(cache.size()) + " completions)";
      auto job_id = [&](size_t i) {
        return "prompt " + std::to_string(i / static_cast<size_t>(f.n) + 1) + " seed " + std::to_string(jobs[i].seed);
      };
      if (by_mass) {
        // The contexts are the ids the suspect returned, after the prompt's (its own ids
        // when it returns them, else the provider's tokenization of the prompt).
        std::vector<distribution_document> dd;
        for (size_t i = 0; i < jobs.size(); ++i)
          dd.push_back(distribution_document_of(results[i].prompt_token_ids.empty()
                                                    ? vocab->tokenize(jobs[i].prompt, /*add_special=*/true)
                                                    : results[i].prompt_token_ids,
                                                results[i].logprobs, string_map, config.vocab_size, job_id(i)));
        add_distribution_documents(acc, dd);
      } else {
        std::vector<audit_document> docs;
        docs.reserve(jobs.size());
        for (size_t i = 0; i < jobs.size(); ++i)
          docs.push_back(tokenize_document(*vocab, jobs[i].prompt, results[i].text, job_id(i)));
        for (const audit_document& d : docs)
          acc.add_prompt(std::span<const int32_t>(d.tokens).first(static_cast<size_t>(d.n_prompt)));
        for (const audit_document& d : docs) acc.add_completion(d.tokens, d.n_prompt, d.id);
      }
      acc.usage().queries += fs.queries;
      acc.usage().cache_hits += fs.cache_hits;
      acc.usage().retries += fs.retries;
    }
  } catch (const audit_input_error& e) {
    print_error("audit", e.what());
    return e.io ? exit_io : exit_usage;
  } catch (const tracemark::error& e) {
    print_error("audit", e.what());
    return e.code() == errc::io ? exit_io : exit_usage;
  }

  audit_evidence ev = acc.evidence();
  ev.mode = mode;
  ev.suspect = mode == audit_mode::reading ? f.suspect_model : mode == audit_mode::suspect_url ? f.suspect_url
                                                                                                : f.suspect_outputs;
  ev.key_fingerprint = master->fingerprint();
  ev.index_path = f.index_path;
  ev.top_logprobs = top_k;
  if (vocab) ev.tokenizer = vocab->identity();

  if (!f.json_out.empty()) {
    const evidence_params params = evidence_params::of(*sch, master->fingerprint(), f.alpha, opts.dedup, 0, ev.tokenizer);
    if (!write_output(f.json_out, audit_record_json(ev, params) + "\n")) {
      print_error("audit", "cannot write " + f.json_out);
      return exit_io;
    }
    if (signer) sign_record_file(f.json_out, *signer);
  }
  if (!f.report_out.empty()) {
    token_text_fn token_text;
    if (vocab) token_text = [&](int32_t t) { return vocab->token_to_piece(t); };
    if (!write_output(f.report_out, render_audit_report(ev, token_text, utc_now()))) {
      print_error("audit", "cannot write " + f.report_out);
      return exit_io;
    }
  }
  std::ostream& summary = f.json_out == "-" || f.report_out == "-" ? std::cerr : std::cout;
  if (!f.quiet) print_summary(summary, ev, api_note, cache_note, input_note);
  if (!f.quiet && !f.report_out.empty() && f.report_out != "-") summary << "  report: " << f.report_out << "\n";
  return exit_ok;
}

}  // namespace

command add_audit_command(CLI::App& parent) {
  auto f = std::make_shared<audit_flags>();
  CLI::App* app = parent.add_subcommand(
      "audit", "Test whether a suspect model was trained on text watermarked with a key (radioactivity)");
  app->add_option("--key,-k", f->key_path, "Key file the provider's text was marked with")
      ->required()
      ->type_name("FILE");
  f->scheme.add_to(*app, /*with_vocab=*/true);
  app->add_option("--vocab", f->vocab_path,
                  "The provider's tokenizer (a GGUF model or vocabulary): tokenizes text records and completions; "
                  "its size is the scheme's vocabulary unless --vocab-size is given")
      ->type_name("GGUF");
  const char* const suspect = "Suspect (exactly one)";
  app->add_option("--suspect-model", f->suspect_model, "White box: the suspect's GGUF file (reading mode)")
      ->type_name("GGUF")
      ->group(suspect);
  app->add_option("--suspect-url", f->suspect_url,
                  "Black box: base URL of an OpenAI-compatible server (POST URL/v1/completions)")
      ->type_name("URL")
      ->group(suspect);
  app->add_option("--suspect-outputs", f->suspect_outputs, "Black box: a JSON Lines dump of the suspect's completions")
      ->type_name("JSONL")
      ->group(suspect);
  app->add_option("--texts", f->texts, "Reading mode: the provider's marked outputs (JSON Lines; repeatable)")
      ->type_name("JSONL");
  app->add_option("--prompts", f->prompts_file,
                  "--suspect-url: one prompt per line (or a JSON object with \"prompt\")")
      ->type_name("FILE");
  app->add_option("--index", f->index_path, "Keep only contexts in this index (tracemark index)")->type_name("FILE");
  app->add_flag("--no-prompt-filter", f->no_prompt_filter,
                "Black box: keep tuples whose context occurs in a prompt (valid only for prompts independent of "
                "the key)");
  app->add_flag("--global-first-occurrence", f->global_first_occurrence,
                "Reading mode: score each context at most once in the whole audit (stricter, less power)");
  app->add_option("--statistic", f->statistic,
                  "sampled: the suspect's sampled (or predicted) tokens; green-mass: the probability its returned "
                  "top-K distributions put on green tokens (black box with log-probabilities)")
      ->capture_default_str();
  app->add_option("--top-logprobs", f->top_logprobs,
                  "green-mass: the K most likely tokens asked for per position (default 20; OpenAI's legacy "
                  "completions allow 5)")
      ->type_name("K");
  app->add_flag("--no-token-ids", f->no_token_ids,
                "green-mass over HTTP: do not send \"return_tokens\" (for servers that refuse unknown fields); "
                "token strings are then mapped to ids with --vocab");
  app->add_option("--alpha", f->alpha, "Significance level of the verdict")->capture_default_str();
  app->add_option("--json", f->json_out, "Write the evidence record here ('-' = standard output)")->type_name("FILE");
  app->add_option("--report", f->report_out,
                  "Write a self-contained HTML report here ('-' = standard output): verdict, p-value in words, "
                  "charts, highlighted sample text")
      ->type_name("FILE");
  app->add_option("--sign", f->sign_key,
                  "Sign the --json record: write FILE.sig with this signing key (tracemark keygen --signing)")
      ->type_name("SIGNING_KEY");
  app->add_option("--keep-samples", f->keep_samples,
                  "Documents kept with per-token marks in the record and the report")
      ->capture_default_str();
  app->add_flag("--quiet,-q", f->quiet, "No summary on the terminal");

  const char* const reading = "Reading mode (--suspect-model)";
  app->add_option("--threads", f->threads, "CPU threads for llama.cpp")->capture_default_str()->group(reading);
  app->add_option("--ctx", f->n_ctx, "Window of the suspect in tokens; longer texts are read in overlapping windows")
      ->capture_default_str()
      ->group(reading);

  const char* const url = "Black box over HTTP (--suspect-url)";
  app->add_option("--n", f->n, "Completions per prompt")->capture_default_str()->group(url);
  app->add_option("--seed", f->seed, "Seed of the first completion of each prompt (then +1, +2, ...)")
      ->capture_default_str()
      ->group(url);
  app->add_option("--max-tokens", f->gen.max_tokens, "Tokens per completion")->capture_default_str()->group(url);
  app->add_option("--temperature,-t", f->gen.temperature, "Sampling temperature")->capture_default_str()->group(url);
  app->add_option("--top-p", f->gen.top_p, "Top-p")->capture_default_str()->group(url);
  app->add_option("--request-model", f->gen.model, "Value of the \"model\" field of each request")
      ->type_name("NAME")
      ->group(url);
  app->add_option("--concurrency", f->concurrency, "Requests in flight at most")->capture_default_str()->group(url);
  app->add_option("--timeout", f->timeout_s, "Connect/read/write timeout of each request, seconds")
      ->capture_default_str()
      ->group(url);
  app->add_option("--retries", f->retries, "Retries per request on connection errors, timeouts, 408, 429 and 5xx")
      ->capture_default_str()
      ->group(url);
  app->add_option("--retry-delay", f->retry_delay_s, "First backoff delay in seconds (doubles per retry, max 30)")
      ->capture_default_str()
      ->group(url);
  app->add_option("--cache", f->cache_path, "On-disk cache of completions (JSON Lines); resumes interrupted audits")
      ->capture_default_str()
      ->group(url);
  app->add_flag("--no-cache", f->no_cache, "Do not read or write the cache")->group(url);
  app->add_option("--api-key-env", f->api_key_env, "Environment variable holding the suspect API's key")
      ->capture_default_str()
      ->group(url);
  app->footer(std::string(audit_footer) + exit_codes_help);
  return command{app, [f] { return run_audit(*f); }};
}

}  // namespace tracemark::cli
