// Mergeable evidence through the command line: `tracemark detect --corpus-only` over a whole
// corpus gives, byte for byte, the corpus record that `detect --corpus-only --save-evidence`
// per shard and then `tracemark merge` give; shards that do not belong together, corrupt
// shards and repeated shards are refused (exit 2) with a message naming the file. The text
// case uses the shared stories260K model (checksum verified; a missing file fails).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_helpers.h"
#include "process_helpers.h"
#ifdef TRACEMARK_CLI_HAS_LLAMA
#include "shared_files.h"
#endif
#include "test_helpers.h"
#include "tracemark/tracemark.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tracemark;
using namespace cli_test;
using testing_util::concat;
using testing_util::contains;
using testing_util::marked_text;
using testing_util::read_file;
using testing_util::run_result;
using testing_util::splitmix64;
using testing_util::write_file;

constexpr int32_t vocab = 1000;

struct temp_dir : testing_util::temp_dir {
  temp_dir() : testing_util::temp_dir("tracemark-cli-evidence") {}
};

// The corpus record: the last line of detect's output.
std::string corpus_line(const run_result& r) {
  const std::vector<std::string> lines = split_lines(r.out);
  REQUIRE_MESSAGE(!lines.empty(), r.err);
  REQUIRE_MESSAGE(lines.back().rfind("{\"corpus\":", 0) == 0, lines.back());
  return lines.back() + "\n";
}

std::string flip_byte(const std::string& bytes, size_t at) {
  std::string d = bytes;
  d[at] = static_cast<char>(d[at] ^ 0x10);
  return d;
}

}  // namespace

TEST_CASE("detect --corpus-only over all files = detect --save-evidence per file + merge, byte for byte") {
  temp_dir dir;
  const std::string key_path = make_key(dir);
  const key master = key::load(key_path);
  scheme_config cfg;
  cfg.vocab_size = vocab;
  cfg.context_width = 2;
  const watermarker wm(master, cfg, 3.0f);
  splitmix64 rng(2024);

  // 45 lines: marked and unmarked documents, prompts, exact duplicates of earlier documents
  // (also across files), one sharing a long run with an earlier one, and an error line.
  std::vector<std::vector<int32_t>> docs;
  std::vector<std::string> lines;
  for (int i = 0; i < 45; ++i) {
    json j;
    j["id"] = "d" + std::to_string(i);
    std::vector<int32_t> t;
    if (i == 20) {
      lines.push_back("{\"id\": \"broken\", \"tokens\": [1, 2,");
      continue;
    }
    if (i == 33 || i == 41 || i == 16) {
      t = docs[static_cast<size_t>(i % 10)];  // documents of the first file again
    } else if (i == 37) {
      t = testing_util::random_tokens(rng, 20, vocab);
      const std::vector<int32_t>& src = docs[3];
      t.insert(t.end(), src.begin(), src.begin() + static_cast<ptrdiff_t>(std::min<size_t>(src.size(), 80)));
    } else {
      const size_t len = 30 + rng.below(170);
      t = i % 3 == 0 ? marked_text(wm, rng, len, vocab) : testing_util::random_tokens(rng, len, vocab);
    }
    j["tokens"] = t;
    if (i % 5 == 1) j["prompt"] = testing_util::random_tokens(rng, 4, vocab);
    docs.push_back(t);
    lines.push_back(j.dump());
  }
  // Three files cut at arbitrary lines.
  const std::vector<size_t> cuts{0, 13, 29, lines.size()};
  std::vector<std::string> files;
  for (size_t f = 0; f + 1 < cuts.size(); ++f) {
    std::string text;
    for (size_t i = cuts[f]; i < cuts[f + 1]; ++i) text += lines[i] + "\n";
    files.push_back(dir.file("part" + std::to_string(f + 1) + ".jsonl"));
    write_file(files.back(), text);
  }
  const std::vector<std::string> base{"detect", "--key", key_path, "--vocab-size", std::to_string(vocab), "-H", "2"};

  for (const std::vector<std::string>& test_flags :
       {std::vector<std::string>{}, std::vector<std::string>{"--alpha", "0.001", "--top", "5"}}) {
    CAPTURE(test_flags.size());
    const run_result all = run(dir, concat(concat(concat(base, {"--corpus-only"}), test_flags), files));
    CHECK(all.exit_code == 1);  // the broken line is an error record
    const std::string expected = corpus_line(all);
    const json rec = json::parse(expected)["corpus"];
    CHECK(rec["documents"] == 44);
    CHECK(rec["errors"] == 1);
    CHECK(rec["verdict"] == "watermarked");

    std::vector<std::string> shards;
    for (size_t f = 0; f < files.size(); ++f) {
      shards.push_back(dir.file("shard" + std::to_string(f + 1) + ".tmev"));
      const run_result r =
          run(dir, concat(base, {"--corpus-only", "-j", std::to_string(1 + f), "--save-evidence", shards.back(), files[f]}));
      CHECK_MESSAGE(r.exit_code == (f == 1 ? 1 : 0), r.err);
      REQUIRE(fs::is_regular_file(shards.back()));
    }
    const run_result merged = run(dir, concat(concat({"merge"}, shards), test_flags));
    CHECK_MESSAGE(merged.exit_code == 0, merged.err);
    CHECK(merged.out == expected);
    CHECK(contains(merged.err, "3 shards"));

    // --output, --quiet.
    const std::string out_path = dir.file("merged.json");
    const run_result to_file = run(dir, concat(concat({"merge", "-q", "-o", out_path}, shards), test_flags));
    CHECK(to_file.exit_code == 0);
    CHECK(to_file.out.empty());
    CHECK(to_file.err.empty());
    CHECK(read_file(out_path) == expected);

    // merge --save-evidence, then merge again: the same record; and the merged file of the
    // first two shards alone is the record of detect on the first two files.
    const std::string s12 = dir.file("s12.tmev");
    const run_result m12 = run(dir, concat({"merge", "--save-evidence", s12, shards[0], shards[1]}, test_flags));
    CHECK_MESSAGE(m12.exit_code == 0, m12.err);
    const run_result first_two = run(dir, concat(concat(base, {"--corpus-only", files[0], files[1]}), test_flags));
    CHECK(m12.out == corpus_line(first_two));
    const run_result again = run(dir, concat({"merge", s12, shards[2]}, test_flags));
    CHECK_MESSAGE(again.exit_code == 0, again.err);
    CHECK(again.out == expected);
    const std::string s123 = dir.file("s123.tmev");
    CHECK(run(dir, {"merge", "-q", "--save-evidence", s123, s12, shards[2]}).exit_code == 0);
    CHECK(run(dir, concat({"merge", s123}, test_flags)).out == expected);
  }

  const std::vector<std::string> shards{dir.file("shard1.tmev"), dir.file("shard2.tmev"), dir.file("shard3.tmev")};

  SUBCASE("a shard made with another --account is refused, naming the file") {
    const std::string alice = dir.file("alice.tmev");
    REQUIRE(run(dir, concat(base, {"--account", "alice", "--corpus-only", "--save-evidence", alice, files[1]})).exit_code ==
            1);
    const run_result r = run(dir, {"merge", shards[0], alice, shards[2]});
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(contains(r.err, alice));
    CHECK(contains(r.err, "account=alice"));
    CHECK(contains(r.err, "does not belong to the same test"));
  }

  SUBCASE("another key, -H or --no-dedup: refused") {
    const std::string other_key = dir.file("other.key");
    REQUIRE(run(dir, {"keygen", "--out", other_key}).exit_code == 0);
    const std::string k = dir.file("k.tmev"), h = dir.file("h.tmev"), nd = dir.file("nd.tmev");
    run(dir, {"detect", "--key", other_key, "--vocab-size", "1000", "-H", "2", "--corpus-only", "--save-evidence", k,
              files[2]});
    run(dir, {"detect", "--key", key_path, "--vocab-size", "1000", "-H", "3", "--corpus-only", "--save-evidence", h,
              files[2]});
    run(dir, concat(base, {"--no-dedup", "--corpus-only", "--save-evidence", nd, files[2]}));
    for (const auto& [path, why] : std::vector<std::pair<std::string, std::string>>{
             {k, "key tmk1:"}, {h, "h=3"}, {nd, "deduplication off instead of on"}}) {
      const run_result r = run(dir, {"merge", shards[0], shards[1], path});
      CHECK(r.exit_code == 2);
      CHECK(contains(r.err, path));
      CHECK(contains(r.err, why));
    }
  }

  SUBCASE("a corrupt or truncated shard exits 2 naming the file; a missing one exits 4") {
    const std::string bytes = read_file(shards[1]);
    const std::string bad = dir.file("bad.tmev");
    write_file(bad, flip_byte(bytes, bytes.size() / 2));
    run_result r = run(dir, {"merge", shards[0], bad, shards[2]});
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(contains(r.err, bad));
    CHECK(contains(r.err, "corrupt"));
    write_file(bad, bytes.substr(0, bytes.size() - 40));
    r = run(dir, {"merge", shards[0], bad, shards[2]});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, bad));
    CHECK(contains(r.err, "truncated"));
    write_file(bad, "{\"corpus\": {}}\n");
    r = run(dir, {"merge", shards[0], bad});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "not a tracemark evidence file"));
    const std::string missing = dir.file("missing.tmev");
    r = run(dir, {"merge", shards[0], missing});
    CHECK(r.exit_code == 4);
    CHECK(contains(r.err, missing));
  }

  SUBCASE("the same shard twice, and --save-evidence over an input, are refused") {
    run_result r = run(dir, {"merge", shards[0], shards[1], shards[0]});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "merged only once"));
    r = run(dir, {"merge", "--save-evidence", shards[1], shards[0], shards[1]});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, shards[1]));
    r = run(dir, {"merge"});
    CHECK(r.exit_code == 2);
  }
}

#ifdef TRACEMARK_CLI_HAS_LLAMA
TEST_CASE("text shards with the same vocabulary merge exactly; token ids without a tokenizer do not merge with text") {
  temp_dir dir;
  const std::string model = testing_util::stories260K_path();
  // The golden test key (public, tests/golden/README.md): the golden texts are marked with it.
  const std::string key_path = dir.file("golden.key");
  fs::copy_file(fs::path(TRACEMARK_SOURCE_DIR) / "tests/golden/inputs/golden.key", key_path);
  fs::permissions(key_path, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  const fs::path inputs = fs::path(TRACEMARK_SOURCE_DIR) / "tests/golden/inputs";
  const std::vector<std::string> base{"detect", "--key", key_path, "--vocab", model, "-H", "2"};

  SUBCASE("JSON Lines of text with prompts, cut into three files, a duplicate across files") {
    const std::vector<std::string> lines = split_lines(read_file((inputs / "texts.jsonl").string()));
    REQUIRE(lines.size() == 11);
    const std::vector<std::vector<std::string>> parts{
        {lines[0], lines[1], lines[2], lines[5]},
        {lines[3], lines[4], lines[6], lines[0]},  // lines[0] again: every tuple a repeat
        {lines[9], lines[10], lines[1], lines[7]}};
    std::vector<std::string> files;
    for (size_t f = 0; f < parts.size(); ++f) {
      std::string text;
      for (const std::string& l : parts[f]) text += l + "\n";
      files.push_back(dir.file("texts" + std::to_string(f + 1) + ".jsonl"));
      write_file(files.back(), text);
    }
    const std::vector<std::string> flags{"--field", "text", "--prompt-field", "prompt", "--corpus-only", "--top", "20"};
    const run_result all = run(dir, concat(concat(base, flags), files));
    const std::string expected = corpus_line(all);
    CHECK(json::parse(expected)["corpus"]["verdict"] == "watermarked");
    CHECK(json::parse(expected)["corpus"]["params"]["tokenizer"]["name"] == "stories260K.gguf");
    std::vector<std::string> shards;
    for (size_t f = 0; f < files.size(); ++f) {
      shards.push_back(dir.file("text" + std::to_string(f + 1) + ".tmev"));
      run(dir, concat(concat(base, flags), {"--save-evidence", shards.back(), files[f]}));
      REQUIRE(fs::is_regular_file(shards.back()));
    }
    const run_result merged = run(dir, concat({"merge", "--top", "20"}, shards));
    CHECK_MESSAGE(merged.exit_code == 0, merged.err);
    CHECK(merged.out == expected);

    // Token ids scored without a tokenizer (same key, scheme and vocabulary size): refused.
    const std::string ids = dir.file("ids.jsonl");
    write_file(ids, "{\"id\": \"t\", \"tokens\": [1, 20, 300, 40, 5, 60, 7, 80, 9, 100]}\n");
    const std::string id_shard = dir.file("ids.tmev");
    REQUIRE(run(dir, {"detect", "--key", key_path, "--vocab-size", "512", "-H", "2", "--corpus-only",
                      "--save-evidence", id_shard, ids})
                .exit_code == 0);
    run_result r = run(dir, {"merge", shards[0], id_shard});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, id_shard));
    CHECK(contains(r.err, "tokenizer token ids (no tokenizer) instead of stories260K.gguf"));
    r = run(dir, {"merge", id_shard, shards[0]});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, shards[0]));
    CHECK(contains(r.err, "tokenizer stories260K.gguf"));
  }

  SUBCASE("plain-text documents read in pieces (--chunk-size), one file per shard") {
    const std::vector<std::string> files{(inputs / "story.txt").string(), (inputs / "story2.txt").string()};
    const std::vector<std::string> flags{"--split", "document", "--chunk-size", "64", "--corpus-only"};
    const run_result all = run(dir, concat(concat(base, flags), files));
    CHECK_MESSAGE(all.exit_code == 0, all.err);
    const std::string expected = corpus_line(all);
    const std::string a = dir.file("story.tmev"), b = dir.file("story2.tmev");
    CHECK(run(dir, concat(concat(base, flags), {"--save-evidence", a, files[0]})).exit_code == 0);
    CHECK(run(dir, concat(concat(base, flags), {"--save-evidence", b, files[1]})).exit_code == 0);
    const run_result merged = run(dir, {"merge", a, b});
    CHECK_MESSAGE(merged.exit_code == 0, merged.err);
    CHECK(merged.out == expected);
  }
}
#endif
