// Signed evidence records through the real `tracemark` executable: keygen --signing,
// detect/merge --sign, and verify with each way a check must fail (exit codes and messages).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "cli_helpers.h"
#include "mode_files.h"
#include "process_helpers.h"

namespace {

using namespace cli_test;
using testing_util::contains;
using testing_util::file_mode;
using testing_util::read_file;
using testing_util::run_result;
using testing_util::write_file;

struct temp_dir : testing_util::temp_dir {
  temp_dir() : testing_util::temp_dir("tracemark-cli-signing-test") {}
};

// The private hex digits of a signing key file.
std::string private_hex(const std::string& key_path) {
  const std::string text = read_file(key_path);
  const size_t p = text.find("\nprivate ");
  REQUIRE(p != std::string::npos);
  return text.substr(p + 9, 64);
}

// "tmks1:..." from keygen's output.
std::string printed_fingerprint(const std::string& out) {
  const size_t p = out.find("fingerprint tmks1:");
  REQUIRE(p != std::string::npos);
  return out.substr(p + 12, 6 + 16);
}

// Token-id documents (vocabulary 512) for detect.
std::string token_input() {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> token(0, 511);
  std::string text;
  for (int doc = 0; doc < 4; ++doc) {
    text += "{\"id\":" + std::to_string(doc) + ",\"tokens\":[";
    for (int i = 0; i < 60; ++i) text += (i == 0 ? "" : ",") + std::to_string(token(rng));
    text += "]}\n";
  }
  return text;
}

struct fixture {
  temp_dir dir;
  std::string master, signing, pub, input, record, sig;
  fixture() {
    master = dir.file("master.key");
    signing = dir.file("signing.key");
    pub = signing + ".pub";
    input = dir.file("in.jsonl");
    record = dir.file("rec.jsonl");
    sig = record + ".sig";
    run_result r = run(dir, {"keygen", "--out", master});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    r = run(dir, {"keygen", "--signing", "--out", signing});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    write_file(input, token_input());
    r = run(dir, {"detect", "--key", master, "--vocab-size", "512", input, "-o", record, "--sign", signing});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    REQUIRE(std::filesystem::exists(sig));
  }
  run_result verify(const std::string& rec, const std::string& s, const std::string& p) {
    return run(dir, {"verify", rec, s, p});
  }
};

}  // namespace

TEST_CASE("keygen --signing writes a 0600 key and a readable .pub, prints the fingerprint, never the secret") {
  temp_dir dir;
  const std::string path = dir.file("signing.key");
  const run_result r = run(dir, {"keygen", "--signing", "--out", path});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(file_mode(path) == 0600);
  CHECK((file_mode(path + ".pub") & 0444) == 0444);
  const std::string fp = printed_fingerprint(r.out);
  CHECK(contains(read_file(path), "\nfingerprint " + fp + "\n"));
  CHECK(read_file(path + ".pub").starts_with("tracemark-public-key 1\npublic "));
  CHECK(contains(read_file(path + ".pub"), "\nfingerprint " + fp + "\n"));
  CHECK(contains(r.out, path));
  CHECK(contains(r.out, path + ".pub"));
  const std::string secret = private_hex(path);
  CHECK(!contains(r.out, secret));
  CHECK(!contains(r.err, secret));
  CHECK(!contains(r.out, secret.substr(0, 16)));

  // Neither file is ever overwritten.
  const std::string before = read_file(path);
  run_result again = run(dir, {"keygen", "--signing", "--out", path});
  CHECK(again.exit_code == 3);
  CHECK(contains(again.err, "refusing to overwrite"));
  CHECK(read_file(path) == before);
  const std::string other = dir.file("other.key");
  write_file(other + ".pub", "someone else's\n");
  again = run(dir, {"keygen", "--signing", "--out", other});
  CHECK(again.exit_code == 3);
  CHECK(contains(again.err, other + ".pub"));
  CHECK(!std::filesystem::exists(other));
  CHECK(read_file(other + ".pub") == "someone else's\n");
}

TEST_CASE("detect --sign, then verify: valid") {
  fixture f;
  const run_result r = f.verify(f.record, f.sig, f.pub);
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  const std::string pub_text = read_file(f.pub);
  const std::string fp = pub_text.substr(pub_text.find("\nfingerprint ") + 13, 6 + 16);
  CHECK(r.out.starts_with("valid: " + f.record + " was signed by " + fp + " and is unchanged"));
  CHECK(r.err.empty());
  CHECK(read_file(f.sig).starts_with("tracemark-signature 1\nalgorithm ed25519\nsigner " + fp + "\n"));
  CHECK(!contains(read_file(f.sig), private_hex(f.signing)));
}

TEST_CASE("verify: one changed byte, a truncated or extended record fail with exit 1") {
  fixture f;
  const std::string original = read_file(f.record);
  REQUIRE(original.size() > 10);
  for (const size_t at : {size_t{0}, original.size() / 2, original.size() - 1}) {
    CAPTURE(at);
    std::string changed = original;
    changed[at] = changed[at] == ' ' ? '\t' : static_cast<char>(changed[at] ^ 0x01);
    write_file(f.record, changed);
    const run_result r = f.verify(f.record, f.sig, f.pub);
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK_MESSAGE(contains(r.err, "invalid: the record has changed since it was signed (content differs"), r.err);
  }
  write_file(f.record, original.substr(0, original.size() - 1));
  run_result r = f.verify(f.record, f.sig, f.pub);
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(contains(r.err, "the record has changed since it was signed (length differs"), r.err);
  write_file(f.record, original + " ");
  r = f.verify(f.record, f.sig, f.pub);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.err, "length differs"));
  write_file(f.record, original);
  CHECK(f.verify(f.record, f.sig, f.pub).exit_code == 0);
}

TEST_CASE("verify: a wrong public key fails with both fingerprints") {
  fixture f;
  const std::string other = f.dir.file("other.key");
  const run_result k = run(f.dir, {"keygen", "--signing", "--out", other});
  REQUIRE(k.exit_code == 0);
  const std::string other_fp = printed_fingerprint(k.out);
  const std::string signer_text = read_file(f.sig);
  const std::string signer = signer_text.substr(signer_text.find("signer ") + 7, 22);
  const run_result r = f.verify(f.record, f.sig, other + ".pub");
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(contains(r.err, "the signature was made by " + signer + ", but the public key is " + other_fp), r.err);

  // Rewriting the signer line to match does not help: the Ed25519 check fails.
  std::string forged = signer_text;
  forged.replace(forged.find("signer ") + 7, 22, other_fp);
  write_file(f.sig, forged);
  const run_result r2 = f.verify(f.record, f.sig, other + ".pub");
  CHECK(r2.exit_code == 1);
  CHECK_MESSAGE(contains(r2.err, "the signature does not match (forged or corrupted signature)"), r2.err);
}

TEST_CASE("verify: truncated or garbled signature files fail with exit 1 and say what is wrong") {
  fixture f;
  const std::string good = read_file(f.sig);
  const size_t sig_line = good.find("\nsignature ") + 1;
  struct variant {
    const char* name;
    std::string text;
    const char* expected;
  };
  std::string flipped = good;
  flipped[sig_line + 20] = flipped[sig_line + 20] == '0' ? '1' : '0';
  const std::vector<variant> variants = {
      {"last line dropped", good.substr(0, sig_line), "truncated (missing 'signature' line)"},
      {"hex cut", good.substr(0, good.size() - 11), "the signature is not 128 hexadecimal digits (it has 118 characters)"},
      {"empty", "", "no 'tracemark-signature 1' line"},
      {"bad hex", std::string(good).replace(sig_line + 10, 1, "x"), "the signature is not 128 hexadecimal digits"},
      {"wrong algorithm", std::string(good).replace(good.find("ed25519"), 7, "ed448"),
       "algorithm 'ed448' is not supported (only ed25519)"},
      {"one flipped digit", flipped, "the signature does not match (forged or corrupted signature)"},
  };
  for (const variant& v : variants) {
    CAPTURE(v.name);
    write_file(f.sig, v.text);
    const run_result r = f.verify(f.record, f.sig, f.pub);
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(contains(r.err, v.expected), r.err);
  }
}

TEST_CASE("verify: key and file problems have their own exit codes; the private key is never printed") {
  fixture f;
  run_result r = f.verify(f.record, f.sig, f.dir.file("missing.pub"));
  CHECK(r.exit_code == 3);
  r = f.verify(f.record, f.sig, f.signing);  // the private key instead of the public one
  CHECK(r.exit_code == 3);
  CHECK_MESSAGE(contains(r.err, "this is a signing (private) key file"), r.err);
  CHECK(!contains(r.err, private_hex(f.signing)));
  r = f.verify(f.record, f.sig, f.master);
  CHECK(r.exit_code == 3);
  CHECK(contains(r.err, "watermark master key"));
  r = f.verify(f.dir.file("missing.jsonl"), f.sig, f.pub);
  CHECK(r.exit_code == 4);
  r = f.verify(f.record, f.dir.file("missing.sig"), f.pub);
  CHECK(r.exit_code == 4);
  r = run(f.dir, {"verify", f.record, f.sig});
  CHECK(r.exit_code == 2);
  r = run(f.dir, {"verify", "--help"});
  CHECK(r.exit_code == 0);
  CHECK(contains(r.out, "does not prove"));
}

TEST_CASE("--sign refuses unusable signing keys before or instead of signing") {
  fixture f;
  const std::string record2 = f.dir.file("rec2.jsonl");
  REQUIRE(::chmod(f.signing.c_str(), 0644) == 0);
  run_result r = run(f.dir, {"detect", "--key", f.master, "--vocab-size", "512", f.input, "-o", record2, "--sign", f.signing});
  CHECK(r.exit_code == 3);
  CHECK(contains(r.err, "chmod 600"));
  CHECK(!contains(r.err, private_hex(f.signing)));
  CHECK(!std::filesystem::exists(record2 + ".sig"));
  REQUIRE(::chmod(f.signing.c_str(), 0600) == 0);
  r = run(f.dir, {"detect", "--key", f.master, "--vocab-size", "512", f.input, "-o", record2, "--sign", f.master});
  CHECK(r.exit_code == 3);
  CHECK(contains(r.err, "this is a watermark master key file"));
  CHECK(!std::filesystem::exists(record2 + ".sig"));
}

TEST_CASE("merge --sign signs the corpus record") {
  fixture f;
  const std::string evidence = f.dir.file("a.tmev");
  const std::string corpus = f.dir.file("corpus.json");
  run_result r = run(f.dir, {"detect", "--key", f.master, "--vocab-size", "512", "--corpus-only", "--save-evidence",
                             evidence, f.input, "-o", f.dir.file("corpus-direct.json")});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = run(f.dir, {"merge", evidence, "-o", corpus, "--sign", f.signing, "--quiet"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = f.verify(corpus, corpus + ".sig", f.pub);
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.starts_with("valid: "));
  // A detect signature does not vouch for the merge record.
  r = f.verify(corpus, f.sig, f.pub);
  CHECK(r.exit_code == 1);
  CHECK(contains(r.err, "the record has changed since it was signed"));
}
