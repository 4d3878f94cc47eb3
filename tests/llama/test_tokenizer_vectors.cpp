// tracemark::llama_tokenizer against llama.cpp's own tokenizer test vectors.
//
// TRACEMARK_LLAMA_VOCAB_DIR holds llama.cpp v0.4.0's models/ggml-vocab-*.gguf
// (vocab-only GGUF files) and, for most of them, <name>.gguf.inp/.out: the
// inputs and the token ids that the model's reference (Hugging Face)
// tokenizer produced. This test reads them the way llama.cpp's
// tests/test-tokenizer-0.cpp does and requires exact matches for every case of
// every vocabulary. A missing directory or too few vocabularies is a failure,
// never a skip.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tracemark/error.h"
#include "tracemark/llama/tokenizer.h"

namespace fs = std::filesystem;
using tracemark::llama_tokenizer;

namespace {

const fs::path k_vocab_dir{TRACEMARK_LLAMA_VOCAB_DIR};
constexpr std::size_t k_min_vocabs_with_vectors = 5;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string escaped(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20) { char buf[8]; std::snprintf(buf, sizeof buf, "\\x%02x", c); out += buf; }
    else out += ch;
  }
  return out;
}

std::string ids_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (const int32_t t : ids) s += (s.empty() ? "" : " ") + std::to_string(t);
  return "[" + s + "]";
}

struct vector_case {
  std::string input;
  std::vector<int32_t> expected;
};

// The format, as tests/test-tokenizer-0.cpp (read_tests) parses it:
//  - <vocab>.gguf.inp: the inputs, separated by "\n__ggml_vocab_test__\n", so
//    the newline before and after the marker line belongs to the separator;
//    an input may be empty, and the file may or may not end with a separator
//    (one that ends the file does not start another input).
//  - <vocab>.gguf.out: one line per input, the expected ids separated by
//    spaces; the line is whitespace-stripped and an empty line is no tokens.
//  - tokenized with add_special = false (no BOS/EOS) and parse_special = false.
std::vector<vector_case> read_vectors(const fs::path& gguf) {
  const std::string raw = read_all(gguf.string() + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    const std::size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }

  std::ifstream out(gguf.string() + ".out", std::ios::binary);
  REQUIRE_MESSAGE(out.good(), "cannot open " << gguf.string() + ".out");
  std::vector<std::vector<int32_t>> outputs;
  for (std::string line; std::getline(out, line);) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    long long v = 0;
    while (ls >> v) ids.push_back(static_cast<int32_t>(v));
    REQUIRE_MESSAGE(ls.eof(), "malformed line in " << gguf.string() << ".out: '" << line << "'");
    outputs.push_back(std::move(ids));
  }
  REQUIRE_MESSAGE(inputs.size() == outputs.size(),
                  gguf.filename().string() << ": " << inputs.size() << " inputs but " << outputs.size()
                                           << " expected outputs");
  std::vector<vector_case> cases;
  for (std::size_t i = 0; i < inputs.size(); ++i) cases.push_back({inputs[i], outputs[i]});
  return cases;
}

std::vector<fs::path> all_vocabs() {
  std::vector<fs::path> v;
  for (const auto& e : fs::directory_iterator(k_vocab_dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("ggml-vocab-", 0) == 0 && e.path().extension() == ".gguf") v.push_back(e.path());
  }
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<fs::path> vocabs_with_vectors() {
  std::vector<fs::path> v;
  for (const auto& p : all_vocabs()) {
    if (fs::exists(p.string() + ".inp") && fs::exists(p.string() + ".out")) v.push_back(p);
  }
  return v;
}

const char* kind_name(llama_tokenizer::vocab_kind k) {
  using vk = llama_tokenizer::vocab_kind;
  switch (k) {
    case vk::none: return "none";
    case vk::spm: return "spm";
    case vk::bpe: return "bpe";
    case vk::wpm: return "wpm";
    case vk::ugm: return "ugm";
    case vk::rwkv: return "rwkv";
    case vk::plamo2: return "plamo2";
    case vk::other: break;
  }
  return "other";
}

void require_vocab_dir() {
  REQUIRE_MESSAGE(fs::is_directory(k_vocab_dir),
                  "vocabulary directory " << k_vocab_dir
                                          << " is missing: run scripts/install_llama.sh and configure with "
                                             "-DCMAKE_PREFIX_PATH=<its prefix>");
  const auto v = vocabs_with_vectors();
  REQUIRE_MESSAGE(v.size() >= k_min_vocabs_with_vectors,
                  k_vocab_dir << " has only " << v.size() << " vocabularies with .inp/.out vectors, need at least "
                              << k_min_vocabs_with_vectors);
}

fs::path vocab(const std::string& name) {
  const fs::path p = k_vocab_dir / ("ggml-vocab-" + name + ".gguf");
  REQUIRE_MESSAGE(fs::exists(p), p << " is missing");
  return p;
}

// Loading is the slow part (a 262k-token vocabulary takes ~1 s), so test cases
// share one instance per file; that is also how the detector uses it.
const llama_tokenizer& shared(const fs::path& p) {
  static std::map<fs::path, std::unique_ptr<llama_tokenizer>> cache;
  auto& slot = cache[p];
  if (!slot) slot = std::make_unique<llama_tokenizer>(p);
  return *slot;
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("tracemark-llama-test-" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  fs::path write(const std::string& name, const std::string& bytes) const {
    const fs::path p = path / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
};

template <class F>
void require_error(F&& f, tracemark::errc code, const fs::path& path, const std::string& also = {}) {
  bool thrown = false;
  try {
    f();
  } catch (const tracemark::error& e) {
    thrown = true;
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(e.code() == code);
    CHECK(msg.find(path.string()) != std::string::npos);
    if (!also.empty()) CHECK(msg.find(also) != std::string::npos);
  }
  CHECK_MESSAGE(thrown, "no tracemark::error for " << path);
}

}  // namespace

TEST_CASE("the vocabulary directory holds enough vocabularies with test vectors") {
  require_vocab_dir();
}

TEST_CASE("every vocabulary reproduces llama.cpp's tokenizer test vectors exactly") {
  require_vocab_dir();
  std::size_t total_cases = 0, total_pass = 0, vocabs_all_pass = 0;
  const auto vocabs = vocabs_with_vectors();
  for (const auto& path : vocabs) {
    const std::string name = path.filename().string();
    CAPTURE(name);
    const llama_tokenizer& tok = shared(path);
    const auto cases = read_vectors(path);
    CHECK(!cases.empty());
    std::size_t pass = 0;
    for (const auto& c : cases) {
      const std::vector<int32_t> got = tok.tokenize(c.input, false);
      if (got == c.expected) {
        ++pass;
      } else {
        INFO("input:    '" << escaped(c.input) << "'");
        INFO("expected: " << ids_string(c.expected));
        INFO("got:      " << ids_string(got));
        CHECK(got == c.expected);
      }
    }
    total_cases += cases.size();
    total_pass += pass;
    if (pass == cases.size()) ++vocabs_all_pass;
    std::printf("tokenizer vectors: %-32s %-4s n_vocab %6d: %zu/%zu cases match\n", name.c_str(),
                kind_name(tok.kind()), tok.n_vocab(), pass, cases.size());
  }
  std::printf("tokenizer vectors: %zu/%zu vocabularies pass, %zu/%zu cases\n", vocabs_all_pass, vocabs.size(),
              total_pass, total_cases);
  std::fflush(stdout);
  CHECK(total_pass == total_cases);
  CHECK(vocabs_all_pass == vocabs.size());
}

TEST_CASE("every ggml-vocab-*.gguf loads, including those without test vectors") {
  require_vocab_dir();
  for (const auto& path : all_vocabs()) {
    CAPTURE(path);
    const llama_tokenizer& tok = shared(path);
    CHECK(tok.n_vocab() > 0);
    CHECK(tok.kind() != llama_tokenizer::vocab_kind::none);
    CHECK(tok.path() == path);
    // Every single token id renders without throwing (special tokens too).
    for (int32_t t = 0; t < tok.n_vocab(); t += 97) (void)tok.token_to_piece(t, true);
  }
}

TEST_CASE("known facts of the GPT-2 and LLaMA (SentencePiece) vocabularies") {
  require_vocab_dir();
  SUBCASE("gpt-2") {
    const llama_tokenizer& tok = shared(vocab("gpt-2"));
    CHECK(tok.kind() == llama_tokenizer::vocab_kind::bpe);
    CHECK(tok.n_vocab() == 50257);
    CHECK(tok.bos() == 50256);
    CHECK(tok.eos() == 50256);
    CHECK(tok.tokenize("Hello world", false) == std::vector<int32_t>{15496, 995});
    CHECK(tok.token_to_piece(15496) == "Hello");
    CHECK(tok.token_to_piece(995) == " world");
    // Special-token text is plain text unless parse_special is set.
    CHECK(tok.tokenize_special("<|endoftext|>", false) == std::vector<int32_t>{50256});
    CHECK(tok.tokenize("<|endoftext|>", false).size() > 1);
    // Special tokens render only when asked to.
    const std::vector<int32_t> with_eos{15496, 50256};
    CHECK(tok.detokenize(with_eos) == "Hello");
    CHECK(tok.detokenize(with_eos, false, true) == "Hello<|endoftext|>");
    // llama_detokenize applies the vocabulary's clean_spaces rule (Hugging
    // Face's clean_up_tokenization_spaces, on for GPT-2): " ?", " !", " .",
    // " ," and " 's"-style contractions lose their space. The pieces
    // themselves are exact bytes.
    const auto ids = tok.tokenize("really ? yes !", false);
    CHECK(tok.detokenize(ids) == "really? yes!");
    std::string pieces;
    for (const int32_t t : ids) pieces += tok.token_to_piece(t);
    CHECK(pieces == "really ? yes !");
  }
  SUBCASE("llama-spm") {
    const llama_tokenizer& tok = shared(vocab("llama-spm"));
    CHECK(tok.kind() == llama_tokenizer::vocab_kind::spm);
    CHECK(tok.n_vocab() == 32000);
    CHECK(tok.bos() == 1);
    CHECK(tok.eos() == 2);
    CHECK(tok.adds_bos());
    const auto with_bos = tok.tokenize("Hello world", /*add_special=*/true);
    const auto without = tok.tokenize("Hello world", /*add_special=*/false);
    REQUIRE(with_bos.size() == without.size() + 1);
    CHECK(with_bos.front() == 1);
    CHECK(std::equal(without.begin(), without.end(), with_bos.begin() + 1));
    // SentencePiece adds a space prefix ("▁Hello"); llama.cpp strips it again
    // only when the text token comes first. With a leading BOS it stays, even
    // when remove_special drops the BOS itself.
    CHECK(tok.detokenize(without) == "Hello world");
    CHECK(tok.detokenize(with_bos, false, /*unparse_special=*/true) == "<s> Hello world");
    CHECK(tok.detokenize(with_bos, /*remove_special=*/true, true) == " Hello world");
    CHECK(tok.detokenize(with_bos) == " Hello world");
  }
}

TEST_CASE("detokenize(tokenize(x)) == x on ordinary ASCII for every BPE vocabulary") {
  require_vocab_dir();
  // Ordinary text without a space before ? ! . , or an apostrophe, which the
  // clean_spaces rule of some vocabularies removes on purpose (see above).
  const std::vector<std::string> texts = {
      "Hello world",
      "The quick brown fox jumps over the lazy dog.",
      "  two leading spaces, a tab\there, and\nnewlines\n\n",
      "int main(int argc, char** argv) { return argc - 1; }",
      "if (x > 1) { y = x - 1; } else { y = 0; } // done",
      "Numbers: 3 33 333 3333 12345678, and 3.14159!",
      "She said: \"it's fine\" -- we'll see; they're (mostly) right? [yes] {no} #tag @user 100%",
      "",
  };
  std::size_t bpe_vocabs = 0;
  for (const auto& path : all_vocabs()) {
    const llama_tokenizer& tok = shared(path);
    if (tok.kind() != llama_tokenizer::vocab_kind::bpe) continue;
    ++bpe_vocabs;
    for (const auto& text : texts) {
      INFO(path.filename().string() << ": '" << escaped(text) << "'");
      const auto ids = tok.tokenize(text, false);
      CHECK(tok.detokenize(ids) == text);
      std::string pieces;
      for (const int32_t t : ids) pieces += tok.token_to_piece(t);
      CHECK(pieces == text);
    }
  }
  std::printf("round trip: %zu BPE vocabularies\n", bpe_vocabs);
  CHECK(bpe_vocabs >= 5);
}

TEST_CASE("one tokenizer serves concurrent tokenize calls") {
  require_vocab_dir();
  const auto vocabs = vocabs_with_vectors();
  for (const auto& path : vocabs) {
    CAPTURE(path);
    const llama_tokenizer& tok = shared(path);
    const auto cases = read_vectors(path);
    std::atomic<std::size_t> mismatches{0}, calls{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        for (int round = 0; round < 3; ++round) {
          for (const auto& c : cases) {
            if (tok.tokenize(c.input, false) != c.expected) ++mismatches;
            (void)tok.detokenize(c.expected);
            ++calls;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(mismatches.load() == 0);
    CHECK(calls.load() == 4 * 3 * cases.size());
  }
}

TEST_CASE("tokenizers can be constructed concurrently") {
  require_vocab_dir();
  const auto vocabs = vocabs_with_vectors();
  std::atomic<std::size_t> ok{0};
  std::vector<std::thread> threads;
  std::size_t started = 0;
  for (const auto& path : vocabs) {
    if (fs::file_size(path) > 3'000'000) continue;  // keep it quick: the small ones
    ++started;
    threads.emplace_back([&ok, path] {
      const llama_tokenizer tok(path);
      if (tok.n_vocab() > 0) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(started >= 5);
  CHECK(ok.load() == started);
}

TEST_CASE("clear errors that name the path") {
  temp_dir tmp;
  SUBCASE("missing file") {
    const fs::path p = tmp.path / "does-not-exist.gguf";
    require_error([&] { llama_tokenizer t(p); }, tracemark::errc::io, p);
  }
  SUBCASE("a directory") {
    require_error([&] { llama_tokenizer t(tmp.path); }, tracemark::errc::io, tmp.path);
  }
  SUBCASE("a text file is not GGUF") {
    const fs::path p = tmp.write("notes.gguf", "this is not a model\n");
    require_error([&] { llama_tokenizer t(p); }, tracemark::errc::invalid_argument, p, "not a GGUF file");
  }
  SUBCASE("an empty file is not GGUF") {
    const fs::path p = tmp.write("empty.gguf", "");
    require_error([&] { llama_tokenizer t(p); }, tracemark::errc::invalid_argument, p, "not a GGUF file");
  }
  SUBCASE("GGUF magic followed by garbage is rejected by llama.cpp") {
    const fs::path p = tmp.write("garbage.gguf", std::string("GGUF") + std::string(64, '\xff'));
    require_error([&] { llama_tokenizer t(p); }, tracemark::errc::invalid_argument, p, "could not load");
  }
  SUBCASE("a truncated vocabulary is rejected by llama.cpp") {
    require_vocab_dir();
    const std::string bytes = read_all(vocab("gpt-2"));
    const fs::path p = tmp.write("truncated.gguf", bytes.substr(0, bytes.size() / 2));
    require_error([&] { llama_tokenizer t(p); }, tracemark::errc::invalid_argument, p, "could not load");
  }
  SUBCASE("token ids out of range") {
    require_vocab_dir();
    const llama_tokenizer& tok = shared(vocab("gpt-2"));
    const std::vector<int32_t> bad{15496, 50257};
    require_error([&] { (void)tok.detokenize(bad); }, tracemark::errc::invalid_argument, tok.path(), "out of range");
    require_error([&] { (void)tok.token_to_piece(-1); }, tracemark::errc::invalid_argument, tok.path());
  }
  SUBCASE("a moved-from tokenizer throws") {
    require_vocab_dir();
    llama_tokenizer a(vocab("gpt-2"));
    llama_tokenizer b(std::move(a));
    CHECK(b.n_vocab() == 50257);
    CHECK_THROWS_AS((void)a.n_vocab(), tracemark::error);  // NOLINT(bugprone-use-after-move)
  }
}
