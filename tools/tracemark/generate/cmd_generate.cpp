// tracemark generate: text generation with a GGUF model through llama.cpp, with the
// watermark sampler in the chain (or without it, for controls). JSON Lines out.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/cli.h"
#include "common/output.h"
#include "common/flash_attention_option.h"
#include "common/scheme_options.h"
#include "tracemark/error.h"
#include "tracemark/key.h"
#include "tracemark/llama/engine.h"
#include "tracemark/watermarker.h"

namespace tracemark::cli {

namespace {

struct generate_flags {
  std::string model_path;
  std::string key_path;
  bool no_watermark = false;
  scheme_options scheme;
  float delta = 2.0f;
  std::vector<std::string> prompts;
  std::string prompts_file;
  int32_t n = 1;
  generation_params gen;
  int32_t n_ctx = 2048;
  int32_t threads = 1;
  std::string flash_attn = "auto";
  std::string output = "-";
};

const char* const generate_footer =
    "Output (JSON Lines), one record per completion, in order (prompt by prompt, then --n):\n"
    "  {\"id\": \"<prompt number>-<completion>\", \"prompt\", \"index\", \"seed\", \"text\", \"tokens\": [ids],\n"
    "   \"prompt_tokens\": [ids], \"finish_reason\": \"length\"|\"stop\", \"watermarked\": bool, \"key_fingerprint\",\n"
    "   \"scheme\", \"account\", \"delta\"}: the token-record schema of docs/CLI.md, so the file feeds\n"
    "  'tracemark detect' directly (token ids, or text with --vocab and --prompt-field prompt) and\n"
    "  'tracemark audit --suspect-outputs'.\n"
    "  Completion i of a prompt is sampled with seed --seed + i. The text is the generated tokens'\n"
    "  pieces concatenated (exact bytes). Generation stops at end-of-generation tokens and, by\n"
    "  default, at BOS (stories260K starts a new story with BOS instead of emitting EOS).\n"
    "\n"
    "Prompts: --prompt (repeatable) and/or --prompts-file (one prompt per line; empty lines skipped).\n"
    "\n"
    "Examples:\n"
    "  tracemark generate --model stories260K.gguf --key provider.key --prompt 'Once upon a time' --n 3\n"
    "  tracemark generate --model stories260K.gguf --no-watermark --prompts-file prompts.txt -o control.jsonl\n"
    "\n";

std::vector<std::string> collect_prompts(const generate_flags& f) {
  std::vector<std::string> prompts = f.prompts;
  if (!f.prompts_file.empty()) {
    std::ifstream in(f.prompts_file);
    if (!in) throw tracemark::error(errc::io, "cannot open prompts file " + f.prompts_file);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) prompts.push_back(line);
    }
  }
  if (prompts.empty()) throw usage_error("no prompt: give --prompt TEXT or --prompts-file FILE");
  return prompts;
}

int run_generate(const generate_flags& f) {
  if (f.no_watermark == !f.key_path.empty())
    throw usage_error(f.no_watermark ? "--no-watermark and --key exclude each other"
                                     : "--key FILE is required (or --no-watermark for unmarked control text)");
  if (f.n < 1) throw usage_error("--n must be at least 1");
  if (f.threads < 1) throw usage_error("--threads must be at least 1");

  std::optional<key> master;
  if (!f.no_watermark) master = load_key(f.key_path);
  std::vector<std::string> prompts;
  try {
    prompts = collect_prompts(f);
  } catch (const tracemark::error& e) {
    throw io_error(e.what());
  }

  std::optional<llama_engine> engine;
  try {
    engine.emplace(f.model_path);
  } catch (const tracemark::error& e) {
    throw io_error(e.what());
  }
  std::optional<watermarker> wm;
  scheme_config config;
  if (master) {
    config = f.scheme.to_config(engine->n_vocab());
    try {
      wm.emplace(*master, config, f.delta);
    } catch (const tracemark::error& e) {
      throw usage_error(e.what());
    }
  }
  llama_session session(*engine, f.n_ctx, f.threads, flash_attention_from(f.flash_attn));

  output out(f.output);
  int status = exit_ok;
  for (size_t k = 0; k < prompts.size(); ++k) {
    const std::string& prompt = prompts[k];
    for (int32_t i = 0; i < f.n; ++i) {
      generation_params p = f.gen;
      p.seed = f.gen.seed + static_cast<uint32_t>(i);
      nlohmann::json rec;
      rec["id"] = std::to_string(k + 1) + "-" + std::to_string(i);  // prompt number, completion
      rec["prompt"] = prompt;
      rec["index"] = i;
      rec["seed"] = p.seed;
      try {
        const generation_result r = session.generate(prompt, p, wm ? &*wm : nullptr);
        rec["text"] = r.text;
        rec["tokens"] = r.tokens;
        rec["prompt_tokens"] = r.prompt_tokens;
        rec["finish_reason"] = r.finish_reason;
      } catch (const tracemark::error& e) {
        rec["error"] = e.what();
        status = exit_record_error;
      }
      rec["watermarked"] = wm.has_value();
      if (wm) {
        rec["key_fingerprint"] = master->fingerprint();
        rec["scheme"] = scheme_description(config);
        rec["account"] = config.account;
        rec["delta"] = f.delta;
      }
      out.write(rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    }
    out.flush();
  }
  out.close();
  return status;
}

}  // namespace

command add_generate_command(CLI::App& parent) {
  auto f = std::make_shared<generate_flags>();
  CLI::App* app = parent.add_subcommand("generate", "Generate text with a GGUF model, watermarked with a key");
  app->add_option("--model,-m", f->model_path, "GGUF model file (llama.cpp)")->required()->type_name("GGUF");
  app->add_option("--key,-k", f->key_path, "Key file (tracemark keygen); required unless --no-watermark")
      ->type_name("FILE");
  app->add_flag("--no-watermark", f->no_watermark, "Generate without the watermark (controls)");
  f->scheme.add_to(*app, /*with_vocab=*/false);
  app->add_option("--delta", f->delta, "Logit bias added to green tokens")->capture_default_str();
  app->add_option("--prompt,-p", f->prompts, "Prompt text (repeatable)")->type_name("TEXT");
  app->add_option("--prompts-file", f->prompts_file, "File with one prompt per line")->type_name("FILE");
  app->add_option("--n", f->n, "Completions per prompt")->capture_default_str();
  app->add_option("--max-tokens", f->gen.max_tokens, "Generated tokens at most")->capture_default_str();
  app->add_option("--temperature,-t", f->gen.temperature, "Sampling temperature; 0 = greedy")->capture_default_str();
  app->add_option("--top-k", f->gen.top_k, "Top-k truncation after the watermark; 0 = off")->capture_default_str();
  app->add_option("--top-p", f->gen.top_p, "Top-p truncation after the watermark; 1 = off")->capture_default_str();
  app->add_option("--seed", f->gen.seed, "Sampling seed of the first completion")->capture_default_str();
  app->add_flag("!--no-stop-at-bos", f->gen.stop_at_bos, "Keep generating through BOS tokens");
  app->add_option("--ctx", f->n_ctx, "Context length in tokens (prompt + completion)")->capture_default_str();
  app->add_option("--threads", f->threads, "CPU threads for llama.cpp (1 is best for tiny models)")
      ->capture_default_str();
  add_flash_attention_option(*app, f->flash_attn);
  app->add_option("--output,-o", f->output, "Output file ('-' = standard output)")->capture_default_str();
  app->footer(std::string(generate_footer) + exit_codes_help);
  return command{app, [f] { return run_generate(*f); }};
}

}  // namespace tracemark::cli
