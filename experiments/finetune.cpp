// tracemark-finetune: full fine-tuning of a GGUF model on token ids, on the CPU, with
// llama.cpp's training API (llama_opt_init / llama_opt_epoch, AdamW), for the
// distillation experiment of docs/AUDIT.md.
//
// Input: JSON Lines, one document per line: {"tokens": [ids], "prompt_tokens": [ids]}
// ("prompt" is accepted for "prompt_tokens"; other fields are ignored). Each document is
// prompt_tokens + tokens; documents are concatenated into one stream, each starting with
// BOS (prepended when the document does not already start with it), which is how
// stories260K separates stories. The stream is cut into non-overlapping windows of
// --ctx + 1 tokens; each window is one datapoint (inputs = first ctx tokens, labels = the
// next token at every position), as llama.cpp's own finetune example does.
//
// Validation: a deterministic fraction of the documents (--val-fraction, chosen by a hash
// of the document index, independent of --seed) is held out and evaluated before
// training and after every epoch. --eval-data FILE (repeatable) adds independent held-out
// corpora evaluated before and after training (their perplexities are the "held-out
// perplexities" of the report); --skip-initial-eval skips the evaluations before training
// (they only measure the base model, the same for every student). --seed only shuffles the order of the training windows each epoch (our own
// Fisher-Yates over a fixed 64-bit generator: identical on every platform). With one
// thread the whole run is deterministic.
//
// Output: progress lines on standard error; one JSON summary line on standard output;
// the fine-tuned model written to --out with llama_model_save_to_file.
#include <llama.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct options {
  std::string model_path;
  std::string data_path;
  std::vector<std::string> eval_paths;
  bool skip_initial_eval = false;
  std::string out_path;
  int epochs = 1;
  float lr = 1e-4f;
  float weight_decay = 0.0f;
  int ctx = 0;  // 0: the model's training context
  uint64_t seed = 1;
  double val_fraction = 0.05;
  int threads = 1;
  bool verbose = false;
};

bool g_verbose = false;
void log_cb(ggml_log_level level, const char* text, void*) {
  if (g_verbose || level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

struct model_del {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ctx_del {
  void operator()(llama_context* c) const { llama_free(c); }
};
struct dataset_del {
  void operator()(ggml_opt_dataset* d) const { ggml_opt_dataset_free(d); }
};
struct result_del {
  void operator()(ggml_opt_result* r) const { ggml_opt_result_free(r); }
};
using dataset_ptr = std::unique_ptr<ggml_opt_dataset, dataset_del>;
using result_ptr = std::unique_ptr<ggml_opt_result, result_del>;

using document = std::vector<llama_token>;

std::vector<llama_token> read_ids(const nlohmann::json& j, const char* field, const std::string& where,
                                  int32_t n_vocab) {
  if (!j.is_array()) throw std::runtime_error(where + ": \"" + field + "\" is not an array");
  std::vector<llama_token> ids;
  ids.reserve(j.size());
  for (const auto& v : j) {
    if (!v.is_number_integer()) throw std::runtime_error(where + ": \"" + field + "\" holds a non-integer");
    const int64_t id = v.get<int64_t>();
    if (id < 0 || id >= n_vocab)
      throw std::runtime_error(where + ": token id " + std::to_string(id) + " outside [0, " +
                               std::to_string(n_vocab) + ")");
    ids.push_back(static_cast<llama_token>(id));
  }
  return ids;
}

// One document per non-empty line: prompt_tokens (or prompt) + tokens, BOS-first.
std::vector<document> load_documents(const std::string& path, int32_t n_vocab, llama_token bos) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<document> docs;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw std::runtime_error(where + ": malformed JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("tokens")) throw std::runtime_error(where + ": no \"tokens\" field");
    if (j.contains("error")) continue;  // an error record of tracemark generate
    document d;
    for (const char* pf : {"prompt_tokens", "prompt"}) {
      if (j.contains(pf) && !j[pf].is_null()) {
        d = read_ids(j[pf], pf, where, n_vocab);
        break;
      }
    }
    const std::vector<llama_token> toks = read_ids(j["tokens"], "tokens", where, n_vocab);
    d.insert(d.end(), toks.begin(), toks.end());
    if (bos >= 0 && (d.empty() || d.front() != bos)) d.insert(d.begin(), bos);
    docs.push_back(std::move(d));
  }
  return docs;
}

// Fixed, platform-independent generator and shuffle (std::shuffle's algorithm is unspecified).
uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <class T>
void shuffle(std::vector<T>& v, uint64_t seed) {
  uint64_t s = seed;
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(splitmix64(s) % i);
    std::swap(v[i - 1], v[j]);
  }
}

// Non-overlapping windows of ctx + 1 tokens over the concatenated documents.
std::vector<std::vector<llama_token>> make_windows(const std::vector<const document*>& docs, int ctx) {
  std::vector<llama_token> stream;
  for (const document* d : docs) stream.insert(stream.end(), d->begin(), d->end());
  std::vector<std::vector<llama_token>> windows;
  const size_t w = static_cast<size_t>(ctx) + 1;
  for (size_t start = 0; start + w <= stream.size(); start += static_cast<size_t>(ctx))
    windows.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(start),
                         stream.begin() + static_cast<std::ptrdiff_t>(start + w));
  return windows;
}

// Null for no windows (ggml_opt_dataset_init needs at least one datapoint).
dataset_ptr make_dataset(const std::vector<std::vector<llama_token>>& windows, int ctx) {
  const int64_t n = static_cast<int64_t>(windows.size());
  if (n == 0) return nullptr;
  dataset_ptr ds(ggml_opt_dataset_init(GGML_TYPE_I32, GGML_TYPE_I32, ctx, ctx, n, 1));
  if (!ds) throw std::runtime_error("ggml_opt_dataset_init failed");
  return ds;
}

void fill_dataset(ggml_opt_dataset_t ds, const std::vector<std::vector<llama_token>>& windows, int ctx) {
  if (!ds) return;
  auto* data = static_cast<llama_token*>(ggml_opt_dataset_data(ds)->data);
  auto* labels = static_cast<llama_token*>(ggml_opt_dataset_labels(ds)->data);
  const size_t c = static_cast<size_t>(ctx);
  for (size_t i = 0; i < windows.size(); ++i) {
    std::memcpy(data + i * c, windows[i].data(), c * sizeof(llama_token));
    std::memcpy(labels + i * c, windows[i].data() + 1, c * sizeof(llama_token));
  }
}

struct adamw_state {
  float lr;
  float wd;
};
ggml_opt_optimizer_params optimizer_params(void* ud) {
  const auto* a = static_cast<const adamw_state*>(ud);
  ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(nullptr);
  p.adamw.alpha = a->lr;
  p.adamw.wd = a->wd;
  return p;
}

struct loss_stat {
  double loss = NAN;
  double unc = NAN;
  double ppl() const { return std::exp(loss); }
};

loss_stat read_loss(ggml_opt_result_t r) {
  loss_stat s;
  ggml_opt_result_loss(r, &s.loss, &s.unc);
  return s;
}

// Mean per-token cross-entropy of the model on a dataset (no parameter update).
loss_stat evaluate(llama_context* ctx, ggml_opt_dataset_t ds) {
  if (!ds) return {};
  result_ptr unused(ggml_opt_result_init()), eval(ggml_opt_result_init());
  llama_opt_epoch(ctx, ds, unused.get(), eval.get(), /*idata_split=*/0, nullptr, nullptr);
  return read_loss(eval.get());
}

nlohmann::json loss_json(const loss_stat& s) {
  if (std::isnan(s.loss)) return nullptr;
  return {{"loss", s.loss}, {"loss_unc", std::isnan(s.unc) ? nlohmann::json(nullptr) : nlohmann::json(s.unc)},
          {"ppl", s.ppl()}};
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(const options& o) {
  g_verbose = o.verbose;
  llama_log_set(log_cb, nullptr);
  llama_backend_init();
  const auto t_start = std::chrono::steady_clock::now();

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  mp.load_mode = LLAMA_LOAD_MODE_NONE;  // the optimizer writes the weights in place: no mmap
  std::unique_ptr<llama_model, model_del> model(llama_model_load_from_file(o.model_path.c_str(), mp));
  if (!model) throw std::runtime_error("llama.cpp could not load " + o.model_path);
  const llama_vocab* vocab = llama_model_get_vocab(model.get());
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  const llama_token bos = llama_vocab_bos(vocab);
  const int32_t n_ctx_train = llama_model_n_ctx_train(model.get());
  const int ctx_len = o.ctx > 0 ? o.ctx : n_ctx_train;
  if (ctx_len != n_ctx_train)
    std::fprintf(stderr,
                 "note: --ctx %d differs from the model's training context %d; llama.cpp records %d in the "
                 "saved model\n",
                 ctx_len, n_ctx_train, ctx_len);

  const std::vector<document> docs = load_documents(o.data_path, n_vocab, bos);
  if (docs.empty()) throw std::runtime_error(o.data_path + " holds no document");
  // Validation documents: a hash of the index, independent of --seed, so every seed
  // of a corpus is validated on the same documents.
  std::vector<const document*> train_docs, val_docs;
  const uint64_t cut = static_cast<uint64_t>(o.val_fraction * 18446744073709551615.0);
  for (size_t i = 0; i < docs.size(); ++i) {
    uint64_t s = 0x7472616365ULL ^ static_cast<uint64_t>(i);
    (o.val_fraction > 0 && splitmix64(s) < cut ? val_docs : train_docs).push_back(&docs[i]);
  }
  // Documents are shuffled once by seed before windowing (so that windows mix documents
  // differently per seed), then windows are reshuffled every epoch.
  shuffle(train_docs, o.seed * 0x2545f4914f6cdd1dULL + 1);
  std::vector<std::vector<llama_token>> train_w = make_windows(train_docs, ctx_len);
  const std::vector<std::vector<llama_token>> val_w = make_windows(val_docs, ctx_len);
  if (train_w.empty()) throw std::runtime_error("not enough training tokens for one window of --ctx + 1 tokens");
  std::vector<std::vector<std::vector<llama_token>>> eval_w;
  for (const std::string& path : o.eval_paths) {
    const std::vector<document> eval_docs = load_documents(path, n_vocab, bos);
    std::vector<const document*> ptrs;
    for (const auto& d : eval_docs) ptrs.push_back(&d);
    eval_w.push_back(make_windows(ptrs, ctx_len));
    if (eval_w.back().empty()) throw std::runtime_error(path + ": not enough tokens for one window");
  }
  size_t train_tokens = 0, val_tokens = 0;
  for (const document* d : train_docs) train_tokens += d->size();
  for (const document* d : val_docs) val_tokens += d->size();
  std::fprintf(stderr,
               "data: %zu documents, %zu train (%zu tokens, %zu windows of %d), %zu validation (%zu tokens, %zu "
               "windows); %zu eval sets\n",
               docs.size(), train_docs.size(), train_tokens, train_w.size(), ctx_len, val_docs.size(), val_tokens,
               val_w.size(), eval_w.size());

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(ctx_len);
  cp.n_batch = static_cast<uint32_t>(ctx_len);
  cp.n_ubatch = static_cast<uint32_t>(ctx_len);  // one optimizer step per window
  cp.n_seq_max = 1;
  cp.n_threads = o.threads;
  cp.n_threads_batch = o.threads;
  cp.type_k = GGML_TYPE_F32;  // OUT_PROD has no f16 backward
  cp.type_v = GGML_TYPE_F32;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;  // FLASH_ATTN_EXT has no backward pass
  cp.no_perf = true;
  std::unique_ptr<llama_context, ctx_del> lctx(llama_init_from_model(model.get(), cp));
  if (!lctx) throw std::runtime_error("llama.cpp could not create a training context");
  // llama_opt_epoch computes its graphs without setting the CPU backend's thread count,
  // which stays at ggml's default (4) until a llama_decode sets it from n_threads. One
  // throw-away decode does that; without it, a 1-thread run spins 4 threads on barriers.
  {
    llama_token first = bos >= 0 ? bos : 0;
    if (llama_decode(lctx.get(), llama_batch_get_one(&first, 1)) != 0)
      throw std::runtime_error("llama_decode failed on the thread-setting warm-up token");
    llama_memory_clear(llama_get_memory(lctx.get()), true);
  }

  adamw_state adamw{o.lr, o.weight_decay};
  llama_opt_params op{};
  op.n_ctx_train = 0;  // the context's length
  op.param_filter = llama_opt_param_filter_all;
  op.param_filter_ud = nullptr;
  op.get_opt_pars = optimizer_params;
  op.get_opt_pars_ud = &adamw;
  op.optimizer_type = GGML_OPT_OPTIMIZER_TYPE_ADAMW;
  llama_opt_init(lctx.get(), model.get(), op);

  dataset_ptr train_ds = make_dataset(train_w, ctx_len);
  dataset_ptr val_ds = make_dataset(val_w, ctx_len);
  fill_dataset(val_ds.get(), val_w, ctx_len);
  std::vector<dataset_ptr> eval_ds;
  for (const auto& w : eval_w) {
    eval_ds.push_back(make_dataset(w, ctx_len));
    fill_dataset(eval_ds.back().get(), w, ctx_len);
  }

  nlohmann::json summary;
  summary["model"] = o.model_path;
  summary["data"] = o.data_path;
  summary["out"] = o.out_path;
  summary["documents"] = docs.size();
  summary["train_tokens"] = train_tokens;
  summary["train_windows"] = train_w.size();
  summary["val_tokens"] = val_tokens;
  summary["ctx"] = ctx_len;
  summary["epochs"] = o.epochs;
  summary["lr"] = o.lr;
  summary["weight_decay"] = o.weight_decay;
  summary["seed"] = o.seed;
  summary["threads"] = o.threads;

  nlohmann::json evals = nlohmann::json::array();
  std::vector<loss_stat> eval0(eval_ds.size());
  if (!o.skip_initial_eval) {
    const loss_stat val0 = evaluate(lctx.get(), val_ds.get());
    std::fprintf(stderr, "before training: val loss %.4f (ppl %.3f)\n", val0.loss, val0.ppl());
    summary["val_before"] = loss_json(val0);
    for (size_t i = 0; i < eval_ds.size(); ++i) {
      eval0[i] = evaluate(lctx.get(), eval_ds[i].get());
      std::fprintf(stderr, "before training: %s loss %.4f (ppl %.3f)\n", o.eval_paths[i].c_str(), eval0[i].loss,
                   eval0[i].ppl());
    }
  }

  nlohmann::json per_epoch = nlohmann::json::array();
  double train_seconds = 0;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    shuffle(train_w, o.seed + uint64_t{0x9e3779b97f4a7c15} * static_cast<uint64_t>(epoch));
    fill_dataset(train_ds.get(), train_w, ctx_len);
    result_ptr train_r(ggml_opt_result_init()), unused(ggml_opt_result_init());
    const auto t0 = std::chrono::steady_clock::now();
    llama_opt_epoch(lctx.get(), train_ds.get(), train_r.get(), unused.get(), ggml_opt_dataset_ndata(train_ds.get()),
                    nullptr, nullptr);
    const double dt = seconds_since(t0);
    train_seconds += dt;
    const loss_stat tr = read_loss(train_r.get());
    const loss_stat va = evaluate(lctx.get(), val_ds.get());
    std::fprintf(stderr, "epoch %d: train loss %.4f (ppl %.3f), val loss %.4f (ppl %.3f), %.1f s\n", epoch, tr.loss,
                 tr.ppl(), va.loss, va.ppl(), dt);
    per_epoch.push_back({{"epoch", epoch}, {"train", loss_json(tr)}, {"val", loss_json(va)}, {"seconds", dt}});
    if (!std::isfinite(tr.loss)) throw std::runtime_error("the training loss is not finite: lower --lr");
  }
  summary["per_epoch"] = per_epoch;
  for (size_t i = 0; i < eval_ds.size(); ++i) {
    const loss_stat after = o.epochs > 0 || o.skip_initial_eval ? evaluate(lctx.get(), eval_ds[i].get()) : eval0[i];
    std::fprintf(stderr, "after training: %s loss %.4f (ppl %.3f)\n", o.eval_paths[i].c_str(), after.loss,
                 after.ppl());
    size_t tokens = 0;
    for (const auto& w : eval_w[i]) tokens += w.size() - 1;
    evals.push_back({{"path", o.eval_paths[i]},
                     {"tokens", tokens},
                     {"before", o.skip_initial_eval ? nlohmann::json(nullptr) : loss_json(eval0[i])},
                     {"after", loss_json(after)}});
  }
  summary["eval"] = evals;
  summary["train_seconds"] = train_seconds;

  if (!o.out_path.empty()) {
    llama_model_save_to_file(model.get(), o.out_path.c_str());
    std::ifstream check(o.out_path, std::ios::binary);
    char magic[4] = {};
    check.read(magic, 4);
    if (!check || std::memcmp(magic, "GGUF", 4) != 0) throw std::runtime_error("writing " + o.out_path + " failed");
  }
  summary["total_seconds"] = seconds_since(t_start);
  std::cout << summary.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"Fine-tune a GGUF model on token ids (JSON Lines) with llama.cpp's training API (AdamW, CPU)"};
  app.add_option("--model,-m", o.model_path, "Base GGUF model")->required();
  app.add_option("--data,-d", o.data_path, "Training data: JSON Lines with \"tokens\" (and optionally \"prompt_tokens\")")
      ->required();
  app.add_option("--out,-o", o.out_path, "Output GGUF (the student); empty: do not save");
  app.add_option("--eval-data", o.eval_paths, "Independent held-out JSON Lines, evaluated before and after training (repeatable)");
  app.add_flag("--skip-initial-eval", o.skip_initial_eval, "Do not evaluate before training (the base model's numbers)");
  app.add_option("--epochs", o.epochs, "Passes over the training windows (0: only evaluate)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--lr", o.lr, "AdamW learning rate (constant)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--weight-decay", o.weight_decay, "AdamW weight decay")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--ctx", o.ctx, "Window length in tokens (0: the model's training context)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", o.seed, "Seed of the document and window order")->capture_default_str();
  app.add_option("--val-fraction", o.val_fraction, "Fraction of documents held out for validation")
      ->capture_default_str()->check(CLI::Range(0.0, 0.9));
  app.add_option("--threads,-t", o.threads, "CPU threads")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_flag("--verbose,-v", o.verbose, "Show llama.cpp's log");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tracemark-finetune: %s\n", e.what());
    return 1;
  }
}
