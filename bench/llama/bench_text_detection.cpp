// End-to-end text detection on the shared corpora vs tokenization alone, same run:
// scoring must cost at most 10% on top of the tokenizer (issue 3).
//   bench_text_detection [--vocab FILE.gguf] [benchmark flags]
// Documents are the corpora's paragraphs (blank-line separated, at most ~4 KiB). Threads split the
// documents into contiguous shares. Report: docs/PERFORMANCE.md.
#include <benchmark/benchmark.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tracemark/detector.h"
#include "tracemark/key.h"
#include "tracemark/llama/tokenizer.h"
#include "tracemark/scheme.h"

namespace {

std::string g_vocab = TRACEMARK_DEFAULT_VOCAB;

struct corpus {
  std::vector<std::string> docs;
  size_t bytes = 0;
};

const corpus& shared_corpus() {
  static const corpus c = [] {
    corpus out;
    for (const char* name : {"tinyshakespeare.txt", "war_and_peace_pg2600.txt", "wikitext2_wiki.test.raw"}) {
      std::ifstream in(std::string(TRACEMARK_SHARED_DIR) + "/corpora/" + name, std::ios::binary);
      if (!in) throw std::runtime_error(std::string("missing corpus ") + name);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      // Paragraphs: a line holding only whitespace ends one; so does reaching 4 KiB
      // (WikiText has one paragraph per line and no blank lines).
      std::string paragraph, line;
      std::istringstream lines(text);
      while (std::getline(lines, line)) {
        if (line.find_first_not_of(" \t\r") == std::string::npos || paragraph.size() >= 4096) {
          if (!paragraph.empty()) out.docs.push_back(std::move(paragraph));
          paragraph.clear();
        }
        if (line.find_first_not_of(" \t\r") != std::string::npos) {
          paragraph += line;
          paragraph += '\n';
        }
      }
      if (!paragraph.empty()) out.docs.push_back(std::move(paragraph));
      out.bytes += text.size();
    }
    return out;
  }();
  return c;
}

const tracemark::llama_tokenizer& tokenizer() {
  static const tracemark::llama_tokenizer t(g_vocab);
  return t;
}

const tracemark::scheme& scheme() {
  static const tracemark::scheme s(tracemark::key::generate(), [] {
    tracemark::scheme_config c;
    c.vocab_size = tokenizer().n_vocab();
    return c;
  }());
  return s;
}

// Runs over all documents on `threads` threads; with `score`, each document is also
// detected (dedup on, no trace, windows on as in the CLI default).
void run(bool score, int threads) {
  const corpus& c = shared_corpus();
  std::vector<std::thread> pool;
  const size_t share = (c.docs.size() + static_cast<size_t>(threads) - 1) / static_cast<size_t>(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      tracemark::detect_options opt;
      opt.keep_trace = false;
      const tracemark::detector det(scheme(), opt);
      tracemark::tuple_set seen;
      const size_t begin = static_cast<size_t>(t) * share;
      const size_t end = std::min(c.docs.size(), begin + share);
      for (size_t i = begin; i < end; ++i) {
        const auto tokens = tokenizer().tokenize(c.docs[i], false);
        if (score) benchmark::DoNotOptimize(det.score(tokens, 0, seen).test.log10_p);
        else benchmark::DoNotOptimize(tokens.data());
      }
    });
  }
  for (auto& th : pool) th.join();
}

void BM_corpora(benchmark::State& state) {
  const bool score = state.range(0) != 0;
  const int threads = static_cast<int>(state.range(1));
  const corpus& c = shared_corpus();
  scheme();
  for (auto _ : state) run(score, threads);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(c.bytes));
  state.counters["docs_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(c.docs.size()), benchmark::Counter::kIsRate);
  state.SetLabel(score ? "tokenize + detect" : "tokenize only (baseline)");
}
BENCHMARK(BM_corpora)
    ->ArgNames({"score", "threads"})
    ->Args({0, 1})->Args({1, 1})->Args({0, 2})->Args({1, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--vocab") == 0 && i + 1 < argc) g_vocab = argv[++i];
    else rest.push_back(argv[i]);
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
