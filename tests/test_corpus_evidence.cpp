// Mergeable evidence files (corpus_evidence.h; docs/EVIDENCE.md "Evidence files"): a corpus
// cut into shards at arbitrary points (documents straddling the borders, duplicates across
// shards), each shard saved with save_evidence() and the shards merged with
// merge_evidence(), gives exactly the verdict and the record of one pass over the whole
// corpus; merging is associative; damaged, truncated, foreign and repeated shards are
// refused with an error that names the file and the problem.
//
// Memory is not measured here (a memory test would be flaky). What bounds it, from
// corpus_evidence.cpp: merge_evidence() keeps the per-document entries of all shards, one
// read buffer of at most 1 MiB per shard (shard_reader::refill) and a heap holding one
// tuple per shard; the tuples themselves are streamed through the k-way merge and, with an
// output path, written out as they come in 1 MiB blocks. Nothing grows with the number of
// tuples, so merging shards of 10^9 tuples needs what merging shards of 10 needs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evidence_file.h"
#include "process_helpers.h"
#include "scheme_impl.h"
#include "test_helpers.h"
#include "tracemark/corpus.h"
#include "tracemark/corpus_evidence.h"
#include "tracemark/error.h"
#include "tracemark/evidence.h"
#include "tracemark/watermarker.h"

using namespace tracemark;
using testing_util::contains;
using testing_util::marked_text;
using testing_util::splitmix64;

namespace {

namespace fs = std::filesystem;

constexpr int32_t vocab = 2000;
constexpr double alpha = 1e-4;

struct document {
  std::string id;
  std::vector<int32_t> tokens;
  int64_t n_prompt = 0;
  bool error = false;  // a document that could not be scored: corpus_accumulator::add_error()
};

// A corpus with everything that makes merging hard: marked and unmarked documents, exact
// duplicates of earlier documents (late ones too, so they fall in later shards), documents
// sharing long runs of tokens with earlier ones (tuples repeat across documents), documents
// that score nothing (empty, shorter than h + 1, all prompt, or an exact repeat), errors,
// prompts, and long documents that the shards cut into pieces.
std::vector<document> make_corpus(const watermarker& wm, uint64_t seed) {
  splitmix64 rng(seed);
  const auto h = static_cast<size_t>(wm.get_scheme().context_width());
  std::vector<document> docs;
  auto earlier_scored = [&]() -> const document& {
    for (;;) {
      const document& d = docs[rng.below(static_cast<uint32_t>(docs.size()))];
      if (!d.error && d.tokens.size() > 40) return d;
    }
  };
  for (int i = 0; i < 96; ++i) {
    document d;
    d.id = "doc-" + std::to_string(i);
    if (i == 17 || i == 45 || i == 71 || i == 88) {  // long, marked, some with a prompt
      d.tokens = marked_text(wm, rng, 1500 + rng.below(1500), vocab);
      d.n_prompt = i == 45 ? 4 : 0;
    } else if (i % 9 == 4) {
      d.error = true;
    } else if (i > 8 && (i % 11 == 7 || i >= 90)) {  // an exact duplicate of an earlier document
      const document& src = earlier_scored();
      d.tokens = src.tokens;
      d.n_prompt = src.n_prompt;
      d.id = src.id + "-again";
    } else if (i > 8 && i % 7 == 3) {  // a long run of an earlier document inside new text
      const document& src = earlier_scored();
      const size_t run = std::min<size_t>(src.tokens.size() - 1, 30 + rng.below(200));
      const size_t from = rng.below(static_cast<uint32_t>(src.tokens.size() - run));
      d.tokens = testing_util::random_tokens(rng, 10 + rng.below(40), vocab);
      d.tokens.insert(d.tokens.end(), src.tokens.begin() + static_cast<ptrdiff_t>(from),
                      src.tokens.begin() + static_cast<ptrdiff_t>(from + run));
      const auto tail = testing_util::random_tokens(rng, rng.below(40), vocab);
      d.tokens.insert(d.tokens.end(), tail.begin(), tail.end());
    } else if (i % 13 == 5) {  // scores nothing
      switch (i % 3) {
        case 0: break;                                                 // no tokens at all
        case 1: d.tokens = testing_util::random_tokens(rng, h, vocab); break;  // only no_context
        default:                                                       // only prompt
          d.tokens = testing_util::random_tokens(rng, 20, vocab);
          d.n_prompt = 20;
      }
    } else {
      const size_t len = 20 + rng.below(280);
      d.tokens = rng.below(10) < 4 ? marked_text(wm, rng, len, vocab) : testing_util::random_tokens(rng, len, vocab);
      if (rng.below(4) == 0) d.n_prompt = rng.below(6);
    }
    docs.push_back(std::move(d));
  }
  return docs;
}

// A piece of a document: tokens [begin, end). A long document has several; a shard border
// between two of them leaves the document straddling the border.
struct piece {
  size_t doc;
  size_t begin, end;
};

std::vector<piece> cut_into_pieces(const std::vector<document>& docs, int32_t h, uint64_t seed) {
  splitmix64 rng(seed);
  std::vector<piece> out;
  for (size_t i = 0; i < docs.size(); ++i) {
    const document& d = docs[i];
    if (d.tokens.size() < 1000) {
      out.push_back({i, 0, d.tokens.size()});
      continue;
    }
    size_t at = 0;
    while (at < d.tokens.size()) {
      size_t len = 100 + rng.below(600);
      // Later pieces start after the prompt and after h tokens (their context).
      if (at == 0) len = std::max<size_t>(len, static_cast<size_t>(d.n_prompt) + static_cast<size_t>(h) + 1);
      len = std::min(len, d.tokens.size() - at);
      out.push_back({i, at, at + len});
      at += len;
    }
  }
  return out;
}

// Runs a shard: pieces [first, last) added to one accumulator as one pass would, except that
// a shard beginning inside a document continues it (continue_document + extend).
corpus_accumulator run_shard(const scheme& s, const corpus_options& options, const std::vector<document>& docs,
                             const std::vector<piece>& pieces, size_t first, size_t last) {
  corpus_accumulator acc(s, options);
  const auto h = static_cast<size_t>(s.context_width());
  for (size_t p = first; p < last; ++p) {
    const piece& pc = pieces[p];
    const document& d = docs[pc.doc];
    if (d.error) {
      acc.add_error();
    } else if (pc.begin == 0) {
      acc.add(std::span(d.tokens).first(pc.end), d.n_prompt, d.id);
    } else {
      if (p == first) acc.continue_document(d.id);
      const size_t from = pc.begin - h;  // the previous piece's last h tokens: context only
      acc.extend(std::span(d.tokens).subspan(from, pc.end - from), static_cast<int64_t>(h));
    }
  }
  return acc;
}

// Shard borders (piece indices where shards 2..k begin), at arbitrary points but with at
// least one document straddling a border and, for k >= 3, one shard that holds only the
// middle piece of a document (it continues a document and is continued by the next shard).
std::vector<size_t> choose_borders(const std::vector<piece>& pieces, size_t k, uint64_t seed) {
  splitmix64 rng(seed);
  std::vector<size_t> borders;
  auto add = [&](size_t b) {
    if (b > 0 && b < pieces.size() && std::find(borders.begin(), borders.end(), b) == borders.end())
      borders.push_back(b);
  };
  if (k >= 2) {
    std::vector<size_t> inside;  // pieces that are not the first of their document
    for (size_t p = 1; p < pieces.size(); ++p)
      if (pieces[p].begin > 0) inside.push_back(p);
    REQUIRE(!inside.empty());
    const size_t b = inside[rng.below(static_cast<uint32_t>(inside.size()))];
    add(b);
    if (k >= 3 && b + 2 < pieces.size() && pieces[b + 1].begin > 0) add(b + 1);
    else if (k >= 3 && pieces[b - 1].begin > 0) add(b - 1);
  }
  while (borders.size() + 1 < k) add(1 + rng.below(static_cast<uint32_t>(pieces.size() - 1)));
  std::sort(borders.begin(), borders.end());
  return borders;
}

void check_same_verdict(const corpus_verdict& a, const corpus_verdict& b) {
  CHECK(a.n_documents == b.n_documents);
  CHECK(a.n_errors == b.n_errors);
  CHECK(a.n_tokens == b.n_tokens);
  CHECK(a.test.stat.scored == b.test.stat.scored);
  CHECK(a.test.stat.score == b.test.stat.score);
  CHECK(a.test.z == b.test.z);
  CHECK(a.test.log10_p == b.test.log10_p);
  CHECK(a.marked_fraction == b.marked_fraction);
  CHECK(a.marked_green_rate == b.marked_green_rate);
  REQUIRE(a.top_documents.size() == b.top_documents.size());
  for (size_t i = 0; i < a.top_documents.size(); ++i) {
    const document_contribution &x = a.top_documents[i], &y = b.top_documents[i];
    CHECK(x.index == y.index);
    CHECK(x.id == y.id);
    CHECK(x.n_tokens == y.n_tokens);
    CHECK(x.test.stat.scored == y.test.stat.scored);
    CHECK(x.test.stat.score == y.test.stat.score);
    CHECK(x.test.z == y.test.z);
    CHECK(x.test.log10_p == y.test.log10_p);
  }
}

scheme_config config(const std::string& name, int32_t h) {
  scheme_config c;
  c.name = name;
  c.context_width = h;
  c.vocab_size = vocab;
  return c;
}

std::string read_bytes(const std::string& path) { return testing_util::read_file(path); }
void write_bytes(const std::string& path, const std::string& bytes) { testing_util::write_file(path, bytes); }

// The error merge_evidence() throws for `paths`; fails the test when it does not throw.
tracemark::error merge_error(const std::vector<std::string>& paths, const std::string& out = {}) {
  try {
    (void)merge_evidence(paths, out);
  } catch (const tracemark::error& e) {
    return e;
  }
  FAIL("merge_evidence accepted what it should refuse");
  return tracemark::error(errc::invalid_argument, "");
}

// Offsets of an evidence file's sections (evidence_file.h).
struct layout {
  uint64_t size, header_end, tuples_begin, record_bytes, n_tuples, entries_begin, entries_bytes, footer_begin;
};
layout layout_of(const std::string& bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  layout l{};
  l.size = bytes.size();
  const uint64_t header_len = detail::get_le(p + detail::evidence_magic.size(), 8);
  l.tuples_begin = detail::evidence_magic.size() + 8 + header_len;
  l.header_end = l.tuples_begin;
  l.footer_begin = l.size - detail::evidence_footer_bytes;
  l.n_tuples = detail::get_le(p + l.footer_begin, 8);
  l.record_bytes = detail::get_le(p + l.footer_begin + 8, 8);
  l.entries_begin = detail::get_le(p + l.footer_begin + 16, 8);
  l.entries_bytes = detail::get_le(p + l.footer_begin + 24, 8);
  REQUIRE(l.tuples_begin + l.n_tuples * l.record_bytes == l.entries_begin);
  REQUIRE(l.entries_begin + l.entries_bytes == l.footer_begin);
  return l;
}

// `bytes` (an evidence file) with its header JSON replaced by `header` and the checksum
// recomputed: a well-formed file with content that a correct writer never produces.
std::string with_header(const std::string& bytes, const std::string& header) {
  const layout l = layout_of(bytes);
  std::string head(detail::evidence_magic);
  detail::put_le(head, header.size(), 8);
  head += header;
  const std::string tuples = bytes.substr(l.tuples_begin, l.entries_begin - l.tuples_begin);
  const std::string entries = bytes.substr(l.entries_begin, l.entries_bytes);
  std::string foot = bytes.substr(l.footer_begin, 72);
  std::string offset;
  detail::put_le(offset, head.size() + tuples.size(), 8);
  foot.replace(16, 8, offset);
  detail::sha256_stream meta;
  meta.update(head);
  meta.update(entries);
  meta.update(foot);
  return head + tuples + entries + foot + meta.finish() + std::string(detail::evidence_footer_magic);
}

std::string header_of(const std::string& bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  return bytes.substr(detail::evidence_magic.size() + 8, detail::get_le(p + detail::evidence_magic.size(), 8));
}

}  // namespace

TEST_CASE("shards merged in corpus order give exactly the one-pass verdict and record") {
  testing_util::temp_dir dir("tracemark-evidence-test");
  const key master = testing_util::key_from_seed(11);
  struct variant {
    std::string name;
    int32_t h;
    bool dedup;
  };
  for (const variant& var : {variant{"kgw-lefthash", 2, true}, variant{"kgw-lefthash", 2, false},
                             variant{"kgw-minhash", 3, true}, variant{"unigram", 0, true}}) {
    CAPTURE(var.name);
    CAPTURE(var.h);
    CAPTURE(var.dedup);
    const watermarker wm(master, config(var.name, var.h), 2.0f);
    const scheme& s = wm.get_scheme();
    const std::vector<document> docs = make_corpus(wm, 100 + static_cast<uint64_t>(var.h));
    const std::vector<piece> pieces = cut_into_pieces(docs, var.h, 7);
    const corpus_options options{var.dedup, 1000};  // every document in top_documents: all compared
    const evidence_metadata meta = evidence_metadata::of(s, master.fingerprint(), var.dedup, std::nullopt);

    // One pass, whole documents.
    corpus_accumulator one(s, options);
    for (const document& d : docs) {
      if (d.error) one.add_error();
      else one.add(d.tokens, d.n_prompt, d.id);
    }
    const corpus_verdict v = one.verdict();
    const std::string record = corpus_record_json(v, evidence_params::of(s, master.fingerprint(), alpha, var.dedup));
    REQUIRE(v.n_documents == static_cast<int64_t>(docs.size()) - v.n_errors);
    REQUIRE(v.n_errors > 5);
    if (var.dedup && var.h > 0) {  // significant: the marked fraction is estimated (unigram has too few tuples)
      REQUIRE(v.test.log10_p < -20);
      REQUIRE(v.marked_fraction > 0.0);
    }

    for (const size_t k : {size_t{1}, size_t{2}, size_t{7}}) {
      CAPTURE(k);
      const std::vector<size_t> borders = choose_borders(pieces, k, 1000 + k);
      REQUIRE(borders.size() + 1 == k);
      std::vector<std::string> paths;
      std::vector<size_t> bounds{0};
      bounds.insert(bounds.end(), borders.begin(), borders.end());
      bounds.push_back(pieces.size());
      bool straddles = false;
      for (size_t i = 0; i < k; ++i) {
        corpus_accumulator acc = run_shard(s, options, docs, pieces, bounds[i], bounds[i + 1]);
        straddles |= acc.continues_document();
        paths.push_back(dir.file(var.name + "-" + std::to_string(var.dedup) + "-k" + std::to_string(k) + "-" +
                                 std::to_string(i) + ".tmev"));
        save_evidence(acc, meta, paths.back());
        // Saved means sealed: the deduplication set was sorted in place to write it.
        if (var.dedup) CHECK_THROWS_AS(acc.add(docs[0].tokens, 0, "late"), tracemark::error);
      }
      CHECK(straddles == (k > 1));

      const std::string out = dir.file("merged-k" + std::to_string(k) + ".tmev");
      const corpus_evidence merged = merge_evidence(paths, out);
      CHECK(merged.n_shards == static_cast<int64_t>(k));
      CHECK(merged.n_errors == v.n_errors);
      CHECK(merged.n_documents_numbered == static_cast<int64_t>(docs.size()));
      CHECK_FALSE(merged.continues_document);
      const corpus_verdict mv = merged.verdict(options);
      check_same_verdict(v, mv);
      CHECK(corpus_record_json(mv, evidence_params::of(merged.metadata, alpha)) == record);
      // The default options (top 10) agree too.
      CHECK(corpus_record_json(merged.verdict(corpus_options{var.dedup, 10}), evidence_params::of(merged.metadata, alpha)) ==
            corpus_record_json(corpus_verdict_of(one.entries(), one.ids(), one.n_errors(), s.null(),
                                                 corpus_options{var.dedup, 10}),
                               evidence_params::of(s, master.fingerprint(), alpha, var.dedup)));

      // The merged file is itself evidence: read back alone, it gives the same verdict.
      const corpus_evidence again = merge_evidence(std::vector<std::string>{out});
      check_same_verdict(v, again.verdict(options));
      CHECK(again.n_tuples == merged.n_tuples);
      CHECK(again.n_shards == static_cast<int64_t>(k));

      if (k == 7) {
        // Associativity: (s0 s1 s2) then the rest, or s0 then (s1 .. s6), or pairs of merged
        // files: always the same verdict, the same tuples, and byte for byte the same file
        // (the shard ids are kept in corpus order).
        const std::string a = dir.file("a.tmev"), b = dir.file("b.tmev"), c = dir.file("c.tmev");
        merge_evidence(std::vector<std::string>(paths.begin(), paths.begin() + 3), a);
        merge_evidence(std::vector<std::string>(paths.begin() + 3, paths.end()), b);  // begins inside a document
        std::vector<std::string> left{a};
        left.insert(left.end(), paths.begin() + 3, paths.end());
        const std::string x = dir.file("x.tmev"), y = dir.file("y.tmev"), z = dir.file("z.tmev");
        const corpus_evidence m1 = merge_evidence(left, x);
        const corpus_evidence m2 = merge_evidence(std::vector<std::string>{a, b}, y);
        merge_evidence(std::vector<std::string>(paths.begin() + 1, paths.end()), c);
        const corpus_evidence m3 = merge_evidence(std::vector<std::string>{paths[0], c}, z);
        for (const corpus_evidence* m : {&m1, &m2, &m3}) {
          check_same_verdict(v, m->verdict(options));
          CHECK(m->n_tuples == merged.n_tuples);
          CHECK(m->n_shards == 7);
        }
        const std::string whole = read_bytes(out);
        CHECK(read_bytes(x) == whole);
        CHECK(read_bytes(y) == whole);
        CHECK(read_bytes(z) == whole);
        // A merged file that begins inside a document says so, and merges like its parts.
        const corpus_evidence tail = merge_evidence(std::vector<std::string>{b});
        CHECK(tail.continues_document == (pieces[bounds[3]].begin > 0));
        // A merged file given next to one of its own shards is that shard twice.
        const tracemark::error twice = merge_error({a, paths[1]});
        CHECK(contains(twice.what(), paths[1]));
        CHECK(contains(twice.what(), "merged only once"));
      }
    }
  }
}

namespace {

// A scheme family whose tuples score Exp(1) (as Gumbel-max schemes do): its evidence files
// store f64 scores (24-byte tuple records) and its null is the gamma distribution. Not a
// format-v1 family; it exists to test the f64 path of evidence files.
class exponential_family final : public detail::scheme_impl {
 public:
  explicit exponential_family(uint64_t salt)
      : scheme_impl(make_config(), "test-exponential", sampling_action::choose_token,
                    null_distribution::exponential_sum(), "test-exponential;salt=" + std::to_string(salt)),
        salt_(salt) {}
  static scheme_config make_config() {
    scheme_config c;
    c.name = "test-exponential";
    c.context_width = 1;
    c.gamma = 0.5;
    c.vocab_size = vocab;
    return c;
  }
  void seeds(const int32_t* tokens, int64_t begin, int64_t end, uint64_t* out) const noexcept override {
    for (int64_t i = begin; i < end; ++i) out[i - begin] = context_id(tokens + i - 1);
  }
  uint64_t context_id(const int32_t* context) const noexcept override {
    return splitmix64(salt_ ^ static_cast<uint32_t>(context[0])).next();
  }
  double score(uint64_t seed, int32_t token) const noexcept override {
    splitmix64 r(seed * 31 + static_cast<uint32_t>(token));
    return -std::log1p(-r.uniform());
  }

 private:
  uint64_t salt_;
};

}  // namespace

TEST_CASE("evidence files of a family with real-valued scores (f64 tuple records) merge") {
  testing_util::temp_dir dir("tracemark-evidence-test");
  const scheme s(std::make_shared<exponential_family>(3));
  splitmix64 rng(5);
  std::vector<document> docs;
  for (int i = 0; i < 40; ++i) {
    document d;
    d.id = "e" + std::to_string(i);
    d.tokens = i >= 30 ? docs[static_cast<size_t>(i - 30)].tokens : testing_util::random_tokens(rng, 10 + rng.below(200), 50);
    docs.push_back(std::move(d));
  }
  const corpus_options options{true, 1000};
  corpus_accumulator one(s, options);
  for (const document& d : docs) one.add(d.tokens, 0, d.id);
  const corpus_verdict v = one.verdict();
  const evidence_metadata meta = evidence_metadata::of(s, "tmk1:0000000000000000", true, std::nullopt);
  std::vector<piece> pieces;
  for (size_t i = 0; i < docs.size(); ++i) pieces.push_back({i, 0, docs[i].tokens.size()});
  std::vector<std::string> paths;
  const std::vector<size_t> bounds{0, 13, 27, docs.size()};
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    corpus_accumulator acc = run_shard(s, options, docs, pieces, bounds[i], bounds[i + 1]);
    paths.push_back(dir.file("f64-" + std::to_string(i) + ".tmev"));
    save_evidence(acc, meta, paths.back());
  }
  CHECK(layout_of(read_bytes(paths[0])).record_bytes == 24);
  CHECK(contains(read_bytes(paths[0]), "\"score_encoding\":\"f64\""));

  // One shard read back is exact.
  const corpus_evidence first = merge_evidence(std::vector<std::string>{paths[0]});
  corpus_accumulator part = run_shard(s, options, docs, pieces, 0, 13);
  REQUIRE(first.entries.size() == part.entries().size());
  for (size_t i = 0; i < first.entries.size(); ++i) {
    CHECK(first.entries[i].stat.scored == part.entries()[i].stat.scored);
    CHECK(first.entries[i].stat.score == part.entries()[i].stat.score);
  }
  CHECK(first.metadata.null == null_distribution::exponential_sum());

  // Merged: the same tuples counted for the same documents. The score sums are equal up to
  // rounding only: a document's sum in one pass adds its tuples in text order, while the
  // merge subtracts the tuples an earlier shard already scored from the shard's sum, and
  // floating-point addition is not associative (green lists score 0 or 1, and there the
  // sums are exact: the test above).
  const corpus_verdict mv = merge_evidence(paths).verdict(options);
  CHECK(mv.n_documents == v.n_documents);
  CHECK(mv.test.stat.scored == v.test.stat.scored);
  CHECK(mv.test.stat.score == doctest::Approx(v.test.stat.score).epsilon(1e-12));
  CHECK(mv.test.log10_p == doctest::Approx(v.test.log10_p).epsilon(1e-9));
  REQUIRE(mv.top_documents.size() == v.top_documents.size());
  double worst = 0;
  for (size_t i = 0; i < v.top_documents.size(); ++i) {
    const auto &x = v.top_documents[i], &y = mv.top_documents[i];
    CHECK(y.test.stat.scored == x.test.stat.scored);
    CHECK(y.test.stat.score == doctest::Approx(x.test.stat.score).epsilon(1e-12));
    worst = std::max(worst, std::fabs(y.test.stat.score - x.test.stat.score));
  }
  MESSAGE("f64 scores: largest difference of a document's score sum, merged vs one pass: ", worst);
}

TEST_CASE("merge_evidence refuses what is not evidence of the same test, naming the file and the problem") {
  testing_util::temp_dir dir("tracemark-evidence-test");
  const key master = testing_util::key_from_seed(21);
  const watermarker wm(master, config("kgw-lefthash", 2), 2.0f);
  const scheme& s = wm.get_scheme();
  const std::vector<document> docs = make_corpus(wm, 77);
  const evidence_metadata meta = evidence_metadata::of(s, master.fingerprint(), true, std::nullopt);

  // A shard of the first 40 documents under any scheme/key/options.
  auto shard = [&](const std::string& name, const scheme& sch, const std::string& fingerprint, bool dedup,
                   std::optional<tokenizer_identity> tok = std::nullopt) {
    corpus_accumulator acc(sch, corpus_options{dedup, 10});
    for (size_t i = 0; i < 40; ++i) {
      if (docs[i].error) acc.add_error();
      else acc.add(docs[i].tokens, docs[i].n_prompt, docs[i].id);
    }
    const std::string path = dir.file(name);
    save_evidence(acc, evidence_metadata::of(sch, fingerprint, dedup, std::move(tok)), path);
    return path;
  };
  const std::string good = shard("good.tmev", s, master.fingerprint(), true);
  const std::string good2 = shard("good2.tmev", s, master.fingerprint(), true);
  REQUIRE_NOTHROW(merge_evidence(std::vector<std::string>{good, good2}));
  const std::string bytes = read_bytes(good);
  const layout l = layout_of(bytes);
  REQUIRE(l.n_tuples > 100);
  REQUIRE(l.record_bytes == 16);

  SUBCASE("not an evidence file") {
    const std::string p = dir.file("notes.txt");
    write_bytes(p, "these are not the tuples you are looking for\n");
    const tracemark::error e = merge_error({good, p});
    CHECK(e.code() == errc::invalid_argument);
    CHECK(contains(e.what(), p));
    CHECK(contains(e.what(), "not a tracemark evidence file"));
    const std::string empty = dir.file("empty.tmev");
    write_bytes(empty, "");
    CHECK(contains(merge_error({empty}).what(), empty));
  }

  SUBCASE("truncated: inside the magic, the header, the tuples, the entries, the footer") {
    const std::vector<std::pair<std::string, uint64_t>> cuts{
        {"magic", 10},
        {"header", detail::evidence_magic.size() + 8 + 20},
        {"tuples", l.tuples_begin + l.record_bytes * (l.n_tuples / 2) + 5},
        {"entries", l.entries_begin + l.entries_bytes / 2},
        {"footer", l.footer_begin + 50},
        {"footer magic", l.size - 3},
    };
    for (const auto& [where, at] : cuts) {
      CAPTURE(where);
      REQUIRE(at < l.size);
      const std::string p = dir.file("cut-" + std::to_string(at) + ".tmev");
      write_bytes(p, bytes.substr(0, at));
      const tracemark::error e = merge_error({good2, p});
      CHECK(e.code() == errc::invalid_argument);
      CHECK(contains(e.what(), p));
      if (where == "magic") CHECK(contains(e.what(), "not a tracemark evidence file"));
      else CHECK(contains(e.what(), "truncated"));
    }
    // Bytes appended after the footer.
    const std::string p = dir.file("appended.tmev");
    write_bytes(p, bytes + "extra");
    const tracemark::error e = merge_error({p});
    CHECK(contains(e.what(), p));
    CHECK(contains(e.what(), "truncated"));
  }

  SUBCASE("one flipped byte: the checksums catch it") {
    struct flip {
      std::string where;
      uint64_t offset;
      unsigned char mask;
      std::string problem;
    };
    const uint64_t mid = l.tuples_begin + l.record_bytes * (l.n_tuples / 2);
    const std::vector<flip> flips{
        // The score bit of one tuple (bit 31 of its owner word): a forged green tuple. Order
        // and owner stay valid; only the checksum of the tuples can see it.
        {"tuple score bit", mid + 15, 0x80, "checksum of its tuples"},
        {"tuple token", mid + 8, 0x01, "checksum of its tuples"},
        {"last tuple score bit", l.entries_begin - 1, 0x80, "checksum of its tuples"},
        {"tuple seed high byte", mid + 7, 0xff, "corrupt"},  // also breaks the order
        {"entry score", l.entries_begin + 24 + 6, 0x01, "checksum of its header and documents"},
        {"entry id", l.entries_begin + 37, 0x20, "checksum of its header and documents"},
        {"header", detail::evidence_magic.size() + 8 + 30, 0x01, "checksum of its header and documents"},
        {"footer count", l.footer_begin + 32, 0x01, "corrupt"},
    };
    for (const flip& f : flips) {
      CAPTURE(f.where);
      std::string damaged = bytes;
      damaged[f.offset] = static_cast<char>(static_cast<unsigned char>(damaged[f.offset]) ^ f.mask);
      const std::string p = dir.file("flipped.tmev");
      write_bytes(p, damaged);
      const tracemark::error e = merge_error({good2, p});
      CHECK(e.code() == errc::invalid_argument);
      CHECK(contains(e.what(), p));
      CHECK(contains(e.what(), "corrupt"));
      CHECK(contains(e.what(), f.problem));
      // A merge that fails leaves no output behind, not even its temporary file.
      const std::string out = dir.file("never.tmev");
      CHECK_THROWS_AS(merge_evidence(std::vector<std::string>{good2, p}, out), tracemark::error);
      CHECK_FALSE(fs::exists(out));
      CHECK_FALSE(fs::exists(out + ".tmp"));
    }
  }

  SUBCASE("another key, scheme, context width, gamma, account, vocabulary, deduplication or tokenizer") {
    struct other {
      std::string what;
      std::string path;
      std::string problem;
    };
    const key other_key = testing_util::key_from_seed(22);
    auto cfg = config("kgw-lefthash", 2);
    std::vector<other> others;
    others.push_back({"key", shard("key.tmev", scheme(other_key, cfg), other_key.fingerprint(), true), "key"});
    {
      auto c = cfg;
      c.name = "kgw-selfhash";
      others.push_back({"scheme", shard("selfhash.tmev", scheme(master, c), master.fingerprint(), true), "scheme"});
    }
    {
      auto c = cfg;
      c.context_width = 3;
      others.push_back({"h", shard("h3.tmev", scheme(master, c), master.fingerprint(), true), "h=3"});
    }
    {
      auto c = cfg;
      c.gamma = 0.5;
      others.push_back({"gamma", shard("gamma.tmev", scheme(master, c), master.fingerprint(), true), "gamma=0.5"});
    }
    {
      auto c = cfg;
      c.account = "alice";
      others.push_back({"account", shard("alice.tmev", scheme(master, c), master.fingerprint(), true), "account=alice"});
    }
    {
      auto c = cfg;
      c.vocab_size = vocab + 1;
      others.push_back({"vocab", shard("vocab.tmev", scheme(master, c), master.fingerprint(), true), "vocab=2001"});
    }
    others.push_back({"dedup", shard("nodedup.tmev", s, master.fingerprint(), false), "deduplication off instead of on"});
    const tokenizer_identity tok{"model.gguf", "SPM", vocab, std::string(64, 'a')};
    others.push_back({"tokenizer", shard("tok.tmev", s, master.fingerprint(), true, tok), "tokenizer model.gguf"});
    for (const other& o : others) {
      CAPTURE(o.what);
      for (const bool other_first : {false, true}) {
        const std::vector<std::string> order = other_first ? std::vector<std::string>{o.path, good}
                                                           : std::vector<std::string>{good, o.path};
        const tracemark::error e = merge_error(order);
        CHECK(e.code() == errc::invalid_argument);
        CHECK(contains(e.what(), order[1]));  // the file that does not match the first
        CHECK(contains(e.what(), "does not belong to the same test"));
        if (!other_first) CHECK(contains(e.what(), o.problem));
      }
    }
    // Token ids (no tokenizer) against text: named as such.
    const tracemark::error e = merge_error({others.back().path, good});
    CHECK(contains(e.what(), "token ids (no tokenizer)"));
  }

  SUBCASE("a header that does not fit the file (valid checksums, made by another program)") {
    const nlohmann::json header = nlohmann::json::parse(header_of(bytes));
    REQUIRE(merge_evidence(std::vector<std::string>{[&] {
              const std::string p = dir.file("same-header.tmev");
              write_bytes(p, with_header(bytes, header.dump()));
              return p;
            }()}).verdict(corpus_options{}).test.stat.scored > 0);  // the rewriting itself is sound
    struct edit {
      std::string what;
      std::function<void(nlohmann::json&)> change;
    };
    const int64_t documents = header["documents"].get<int64_t>();
    const std::vector<edit> edits{
        {"errors as a string", [](nlohmann::json& h) { h["errors"] = "x"; }},
        {"no errors", [](nlohmann::json& h) { h.erase("errors"); }},
        {"negative documents", [](nlohmann::json& h) { h["documents"] = -5; }},
        {"one document too many", [&](nlohmann::json& h) { h["documents"] = documents + 1; }},
        {"one document too few", [&](nlohmann::json& h) { h["documents"] = documents - 1; }},
        {"an error too many", [](nlohmann::json& h) { h["errors"] = h["errors"].get<int64_t>() + 1; }},
        {"continues_document as a number", [](nlohmann::json& h) { h["continues_document"] = 1; }},
        {"continues_document without a continued entry", [](nlohmann::json& h) { h["continues_document"] = true; }},
        {"shard ids as a string", [](nlohmann::json& h) { h["shard_ids"] = "abc"; }},
        {"no shard ids", [](nlohmann::json& h) { h["shard_ids"] = nlohmann::json::array(); }},
        {"no tokenizer field", [](nlohmann::json& h) { h.erase("tokenizer"); }},
        {"gamma_bits not hex", [](nlohmann::json& h) { h["scheme"]["gamma_bits"] = "zz"; }},
    };
    for (const edit& ed : edits) {
      CAPTURE(ed.what);
      nlohmann::json h = header;
      ed.change(h);
      const std::string p = dir.file("edited.tmev");
      write_bytes(p, with_header(bytes, h.dump()));
      const tracemark::error e = merge_error({p});
      CHECK(e.code() == errc::invalid_argument);
      CHECK(contains(e.what(), p));
      CHECK(contains(e.what(), "corrupt"));
    }
  }

  SUBCASE("the same shard twice, also under another name or inside a merged file") {
    const tracemark::error e = merge_error({good, good2, good});
    CHECK(e.code() == errc::invalid_argument);
    CHECK(contains(e.what(), good));
    CHECK(contains(e.what(), "merged only once"));
    const std::string copy = dir.file("copy-of-good.tmev");
    fs::copy_file(good, copy);
    const tracemark::error c = merge_error({good, copy});
    CHECK(contains(c.what(), copy));
    CHECK(contains(c.what(), good));  // where the shard was already
    const std::string both = dir.file("both.tmev");
    merge_evidence(std::vector<std::string>{good, good2}, both);
    CHECK(contains(merge_error({both, good2}).what(), good2));
  }

  SUBCASE("a shard that begins inside a document must follow the shard that ends with it") {
    const document& a = docs[0];
    const document& b = docs[1];
    REQUIRE(a.tokens.size() > 10);
    const size_t cut = a.tokens.size() / 2;
    auto save = [&](const std::string& name, auto&& fill) {
      corpus_accumulator acc(s);
      fill(acc);
      const std::string path = dir.file(name);
      save_evidence(acc, meta, path);
      return path;
    };
    const std::string second_half = save("second-half.tmev", [&](corpus_accumulator& acc) {
      acc.continue_document(a.id);
      acc.extend(std::span(a.tokens).subspan(cut - 2), 2);
    });
    const std::string first_half = save("first-half.tmev", [&](corpus_accumulator& acc) {
      acc.add(b.tokens, b.n_prompt, b.id);
      acc.add(std::span(a.tokens).first(cut), a.n_prompt, a.id);
    });
    const std::string other_last = save("other-last.tmev", [&](corpus_accumulator& acc) {
      acc.add(std::span(a.tokens).first(cut), a.n_prompt, a.id);
      acc.add(b.tokens, b.n_prompt, b.id);
    });
    const std::string failed_last = save("failed-last.tmev", [&](corpus_accumulator& acc) {
      acc.add(std::span(a.tokens).first(cut), a.n_prompt, a.id);
      acc.add_error();
    });
    corpus_accumulator whole(s);
    whole.add(b.tokens, b.n_prompt, b.id);
    whole.add(a.tokens, a.n_prompt, a.id);
    check_same_verdict(whole.verdict(), merge_evidence(std::vector<std::string>{first_half, second_half})
                                            .verdict(corpus_options{}));
    for (const std::string& before : {other_last, failed_last}) {
      CAPTURE(before);
      const tracemark::error e = merge_error({before, second_half});
      CHECK(e.code() == errc::invalid_argument);
      CHECK(contains(e.what(), second_half));
      CHECK(contains(e.what(), "begins inside document \"" + a.id + "\""));
      CHECK(contains(e.what(), before));
    }
    // Alone (or first), a shard that begins inside a document is a partial merge: allowed,
    // and it says so.
    const corpus_evidence alone = merge_evidence(std::vector<std::string>{second_half});
    CHECK(alone.continues_document);
  }

  SUBCASE("unreadable paths and unwritable outputs are I/O errors") {
    const std::string missing = dir.file("missing.tmev");
    const tracemark::error e = merge_error({good, missing});
    CHECK(e.code() == errc::io);
    CHECK(contains(e.what(), missing));
    const tracemark::error d = merge_error({dir.path.string()});
    CHECK(contains(d.what(), dir.path.string()));
    const std::string out = dir.file("no-such-dir/merged.tmev");
    const tracemark::error o = merge_error({good, good2}, out);
    CHECK(o.code() == errc::io);
    CHECK(contains(o.what(), out));
    CHECK_THROWS_AS(merge_evidence(std::vector<std::string>{}), tracemark::error);
  }
}
