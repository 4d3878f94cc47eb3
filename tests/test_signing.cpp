// Signed evidence records (tracemark/signing.h): Ed25519 key files (mode 0600, refusals of
// corrupt or edited files, never the secret in a message), detached signatures over a
// record's exact bytes, and every way verification must fail.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "hex.h"
#include "mode_files.h"
#include "tracemark/error.h"
#include "tracemark/signing.h"

using namespace tracemark;

namespace {

using testing_util::contains;
using testing_util::file_mode;
using testing_util::read_file;
using testing_util::write_file_with_mode;

struct temp_dir : testing_util::temp_dir {
  temp_dir() : testing_util::temp_dir("tracemark-signing-test") {}
};

// The exception `f` throws; fails the test when it throws none or another type.
error thrown_by(const std::function<void()>& f) {
  try {
    f();
  } catch (const error& e) {
    return e;
  }
  FAIL("no tracemark::error was thrown");
  return error(errc::invalid_argument, "unreachable");
}

// The private hex of a key file (for checking that no message contains it).
std::string private_hex(const std::string& key_text) {
  const size_t p = key_text.find("\nprivate ");
  REQUIRE(p != std::string::npos);
  return key_text.substr(p + 9, 64);
}

// A record file of the shape tracemark writes (JSON Lines, LF).
const std::string record_text =
    "{\"id\":1,\"n_scored\":200,\"n_green\":91,\"z\":5.1961524227066329,\"log10_p\":-7.25}\n"
    "{\"id\":2,\"n_scored\":150,\"n_green\":37,\"z\":-0.0942809041582063,\"log10_p\":-0.2}\n";

}  // namespace

TEST_CASE("RFC 8032 test 1: the public key is derived from the seed, and the fingerprint from it") {
  signing_key::seed_bytes seed{};
  REQUIRE(detail::from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed.data(),
                           seed.size()));
  const signing_key k = signing_key::from_seed(seed);
  const public_key pub = k.public_part();
  CHECK(detail::to_hex(pub.raw().data(), pub.raw().size()) ==
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  CHECK(pub.fingerprint() == k.fingerprint());
  CHECK(k.fingerprint().starts_with("tmks1:"));
  CHECK(k.fingerprint().size() == 6 + 16);
  // Independent of the seed: only the public key enters the fingerprint.
  CHECK(public_key::from_bytes(pub.raw()).fingerprint() == k.fingerprint());
}

TEST_CASE("signing keys: generate, save with mode 0600 and a readable .pub, load back") {
  temp_dir dir;
  const std::string path = dir.file("signing.key");
  const signing_key k = signing_key::generate();
  k.save(path);
  CHECK(file_mode(path) == 0600);
  CHECK((file_mode(path + ".pub") & 0444) == 0444);  // 0644 less a usual umask

  const std::string text = read_file(path);
  CHECK(contains(text, "\ntracemark-signing-key 1\nprivate "));
  CHECK(contains(text, "\nfingerprint " + k.fingerprint() + "\n"));
  CHECK(read_file(path + ".pub") == "tracemark-public-key 1\npublic " +
                                         detail::to_hex(k.public_part().raw().data(), 32) + "\nfingerprint " +
                                         k.fingerprint() + "\n");
  CHECK(!contains(read_file(path + ".pub"), private_hex(text)));

  const signing_key back = signing_key::load(path);
  CHECK(back.fingerprint() == k.fingerprint());
  CHECK(back.public_part().raw() == k.public_part().raw());
  const public_key pub = public_key::load(path + ".pub");
  CHECK(pub.fingerprint() == k.fingerprint());
  CHECK(signing_key::generate().fingerprint() != k.fingerprint());

  // Neither file is overwritten, and a refused save leaves nothing behind.
  CHECK(thrown_by([&] { signing_key::generate().save(path); }).code() == errc::invalid_argument);
  CHECK(read_file(path) == text);
  const std::string other = dir.file("other.key");
  write_file_with_mode(dir.file("other.key.pub"), "already here\n", 0644);
  const error e = thrown_by([&] { signing_key::generate().save(other); });
  CHECK(e.code() == errc::invalid_argument);
  CHECK(contains(e.what(), "other.key.pub"));
  CHECK(::access(other.c_str(), F_OK) != 0);
}

TEST_CASE("signing key files: refused when group or others can read them, or missing") {
  temp_dir dir;
  const std::string path = dir.file("signing.key");
  signing_key::generate().save(path);
  const std::string secret_hex = private_hex(read_file(path));
  for (const mode_t mode : {0644u, 0640u, 0604u, 0660u, 0601u}) {
    CAPTURE(mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    const error e = thrown_by([&] { signing_key::load(path); });
    CHECK(e.code() == errc::key_permissions);
    CHECK(contains(e.what(), path));
    CHECK(contains(e.what(), "chmod 600"));
    CHECK(!contains(e.what(), secret_hex));
  }
  REQUIRE(::chmod(path.c_str(), 0400) == 0);
  CHECK_NOTHROW(signing_key::load(path));
  CHECK(thrown_by([&] { signing_key::load(dir.file("missing.key")); }).code() == errc::key_missing);
  CHECK(thrown_by([&] { public_key::load(dir.file("missing.pub")); }).code() == errc::key_missing);
}

TEST_CASE("signing key files: corrupt or edited files are refused, naming file and line, never the secret") {
  temp_dir dir;
  const std::string good_path = dir.file("good.key");
  signing_key::generate().save(good_path);
  const std::string good = read_file(good_path);
  const std::string secret_hex = private_hex(good);
  const std::string other_public = detail::to_hex(signing_key::generate().public_part().raw().data(), 32);
  const size_t pub_at = good.find("\npublic ") + 8;
  const size_t fp_at = good.find("\nfingerprint ") + 13;

  struct variant {
    const char* name;
    std::string text;
    const char* expected;  // part of the message
  };
  std::string flipped_secret = good;
  flipped_secret[good.find("\nprivate ") + 9] = secret_hex[0] == '0' ? '1' : '0';
  std::string other_pub = good;
  other_pub.replace(pub_at, 64, other_public);
  std::string bad_fp = good;
  bad_fp[fp_at + 6] = good[fp_at + 6] == '0' ? '1' : '0';
  const std::vector<variant> variants = {
      {"empty", "", "no 'tracemark-signing-key 1' line"},
      {"truncated after the private line", good.substr(0, good.find("\npublic ") + 1), "missing 'public' line"},
      {"no fingerprint", good.substr(0, fp_at - 12), "missing 'fingerprint' line"},
      {"private key one digit short", std::string(good).erase(good.find("\nprivate ") + 9, 1),
       "line 3: the private key is not 64 hexadecimal digits"},
      {"private key not hex", std::string(good).replace(good.find("\nprivate ") + 9, 1, "g"),
       "line 3: the private key is not 64 hexadecimal digits"},
      {"edited private key", flipped_secret, "line 4: the public key does not match the private key"},
      {"another public key", other_pub, "line 4: the public key does not match the private key"},
      {"edited fingerprint", bad_fp, "line 5: the fingerprint does not match"},
      {"a field twice", good + "public " + other_public + "\n", "'public' appears twice"},
      {"an unknown line", good + "comment here\n", "line 6 is not a 'private', 'public' or 'fingerprint' line"},
      {"a master key file", "tracemark-key 1\nsecret " + secret_hex + "\nfingerprint tmk1:0011223344556677\n",
       "this is a watermark master key file"},
      {"a public key file", read_file(good_path + ".pub"), "this is a public key file"},
      {"CR inside a line", std::string(good).insert(good.find("\nprivate ") + 12, "\r"), "control character"},
      {"trailing blank", std::string(good).insert(fp_at - 13, " "), "ends in a space or tab"},
      {"two spaces", std::string(good).insert(good.find("\nprivate ") + 8, " "), "the private key is not 64"},
      {"over 4096 bytes", good + std::string(5000, '#'), "larger than 4096 bytes"},
  };
  int i = 0;
  for (const variant& v : variants) {
    CAPTURE(v.name);
    const std::string path = dir.file("bad" + std::to_string(i++) + ".key");
    write_file_with_mode(path, v.text);
    const error e = thrown_by([&] { signing_key::load(path); });
    CHECK(e.code() == errc::key_corrupt);
    CHECK_MESSAGE(contains(e.what(), v.expected), e.what());
    CHECK(contains(e.what(), path));
    CHECK(!contains(e.what(), secret_hex));
    CHECK(!contains(e.what(), secret_hex.substr(1, 40)));
  }

  // Accepted: CR LF line ends, comments anywhere, fields in any order, uppercase hex.
  std::string crlf;
  for (const char c : good) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  std::string reordered = "# comment\ntracemark-signing-key 1\n\n" + good.substr(fp_at - 12) +
                          good.substr(pub_at - 7, fp_at - 12 - (pub_at - 7)) +
                          good.substr(good.find("\nprivate ") + 1, 73);
  std::string upper = good;
  for (size_t k = good.find("\nprivate ") + 9; k < good.find("\nprivate ") + 73; ++k)
    upper[k] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[k])));
  for (const std::string& text : {crlf, reordered, upper}) {
    const std::string path = dir.file("ok" + std::to_string(i++) + ".key");
    write_file_with_mode(path, text);
    CHECK_MESSAGE(signing_key::load(path).fingerprint() == signing_key::load(good_path).fingerprint(), text);
  }
}

TEST_CASE("public key files: corrupt or edited files are refused") {
  temp_dir dir;
  const std::string key_path = dir.file("k.key");
  const std::string pub_path = dir.file("k.key.pub");
  signing_key::generate().save(key_path);
  const std::string good = read_file(pub_path);
  std::string edited = good;
  edited[good.find("\npublic ") + 8] = good[good.find("\npublic ") + 8] == 'a' ? 'b' : 'a';
  const std::vector<std::pair<std::string, std::string>> variants = {
      {good.substr(0, good.find("\nfingerprint") + 1), "missing 'fingerprint' line"},
      {edited, "line 3: the fingerprint does not match the public key"},
      {std::string(good).erase(good.find("\npublic ") + 8, 2), "the public key is not 64 hexadecimal digits"},
      {"tracemark-signature 1\n", "this is a signature file"},
  };
  int i = 0;
  for (const auto& [text, expected] : variants) {
    const std::string path = dir.file("bad" + std::to_string(i++) + ".pub");
    write_file_with_mode(path, text, 0644);
    const error e = thrown_by([&] { public_key::load(path); });
    CHECK(e.code() == errc::key_corrupt);
    CHECK_MESSAGE(contains(e.what(), expected), e.what());
  }
  // The private key file is not a public key file.
  const error e = thrown_by([&] { public_key::load(key_path); });
  CHECK(contains(e.what(), "this is a signing (private) key file"));
  CHECK(!contains(e.what(), private_hex(read_file(key_path))));
}

TEST_CASE("sign a record and verify it; the signature file's format") {
  temp_dir dir;
  const std::string record = dir.file("record.jsonl");
  write_file_with_mode(record, record_text, 0644);
  const signing_key k = signing_key::generate();
  const record_signature sig = sign_file(k, record);
  CHECK(sig.signer == k.fingerprint());
  CHECK(sig.record_bytes == record_text.size());

  const std::string sig_path = dir.file("record.jsonl.sig");
  write_signature(sig, sig_path);
  const std::string text = read_file(sig_path);
  CHECK(text == "tracemark-signature 1\nalgorithm ed25519\nsigner " + k.fingerprint() + "\nrecord-bytes " +
                    std::to_string(record_text.size()) + "\nrecord-sha256 " +
                    detail::to_hex(sig.record_sha256.data(), 32) + "\nsignature " +
                    detail::to_hex(sig.signature.data(), 64) + "\n");
  // SHA-256 of the record, checked against OpenSSL's command-line tool would need a
  // process; the empty file's digest is a fixed known answer instead.
  const std::string empty = dir.file("empty");
  write_file_with_mode(empty, "", 0644);
  CHECK(detail::to_hex(sign_file(k, empty).record_sha256.data(), 32) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sig.signed_message().size() == 27 + 8 + 32);
  CHECK(sig.signed_message().starts_with("tracemark signed record v1\n"));

  const record_signature parsed = record_signature::parse(text, "x");
  CHECK(parsed.format() == text);

  const verify_result r = verify_file(sig_path, k.public_part(), record);
  CHECK(r.valid());
  CHECK(r.outcome == verify_outcome::valid);
  CHECK(contains(r.message, "was signed by " + k.fingerprint() + " and is unchanged"));
  CHECK(contains(r.message, detail::to_hex(sig.record_sha256.data(), 32)));
  // Through the files, as a third party does it.
  const std::string key_path = dir.file("s.key");
  k.save(key_path);
  CHECK(verify_file(sig_path, public_key::load(key_path + ".pub"), record).valid());
  // Signing again gives the same signature (Ed25519 is deterministic) and replaces the file.
  write_signature(sign_file(signing_key::load(key_path), record), sig_path);
  CHECK(read_file(sig_path) == text);
}

TEST_CASE("any changed byte in the record fails verification") {
  temp_dir dir;
  const std::string record = dir.file("record.jsonl");
  write_file_with_mode(record, record_text, 0644);
  const signing_key k = signing_key::generate();
  const record_signature sig = sign_file(k, record);
  const public_key pub = k.public_part();

  const size_t comma = record_text.find(',');  // a structural byte
  for (const size_t at : {size_t{0}, record_text.size() / 2, record_text.size() - 1, comma}) {
    CAPTURE(at);
    std::string changed = record_text;
    changed[at] = static_cast<char>(changed[at] ^ 0x01);
    write_file_with_mode(record, changed, 0644);
    const verify_result r = verify_file(sig, pub, record);
    CHECK(!r.valid());
    CHECK(r.outcome == verify_outcome::record_content_changed);
    CHECK(contains(r.message, "the record has changed since it was signed (content differs"));
  }
  // A whitespace byte: LF -> CR LF would change the length; a space inserted, too. Replace
  // the final LF by a space: same length, different content.
  write_file_with_mode(record, record_text.substr(0, record_text.size() - 1) + " ", 0644);
  CHECK(verify_file(sig, pub, record).outcome == verify_outcome::record_content_changed);

  write_file_with_mode(record, record_text.substr(0, record_text.size() - 1), 0644);  // truncated
  verify_result r = verify_file(sig, pub, record);
  CHECK(r.outcome == verify_outcome::record_length_changed);
  CHECK(contains(r.message, "length differs"));
  CHECK(contains(r.message, std::to_string(record_text.size() - 1) + " bytes, the signed record was " +
                                std::to_string(record_text.size()) + " bytes"));
  write_file_with_mode(record, record_text + "\n", 0644);  // one byte appended
  CHECK(verify_file(sig, pub, record).outcome == verify_outcome::record_length_changed);
  write_file_with_mode(record, "", 0644);
  CHECK(verify_file(sig, pub, record).outcome == verify_outcome::record_length_changed);

  write_file_with_mode(record, record_text, 0644);
  CHECK(verify_file(sig, pub, record).valid());
  // A missing record is an I/O error, not an invalid signature.
  CHECK(thrown_by([&] { verify_file(sig, pub, dir.file("nope")); }).code() == errc::io);
}

TEST_CASE("a wrong public key fails with the fingerprint message") {
  temp_dir dir;
  const std::string record = dir.file("record.jsonl");
  write_file_with_mode(record, record_text, 0644);
  const signing_key k = signing_key::generate();
  const signing_key other = signing_key::generate();
  const record_signature sig = sign_file(k, record);
  verify_result r = verify_file(sig, other.public_part(), record);
  CHECK(r.outcome == verify_outcome::wrong_signer);
  CHECK(r.message.starts_with("the signature was made by " + k.fingerprint() + ", but the public key is " +
                              other.fingerprint()));
  // A forger who also rewrites the signer line is caught by the Ed25519 check.
  record_signature forged = sig;
  forged.signer = other.fingerprint();
  r = verify_file(forged, other.public_part(), record);
  CHECK(r.outcome == verify_outcome::bad_signature);
  CHECK(contains(r.message, "the signature does not match (forged or corrupted signature)"));
  // So is a record re-signed under the claimed digest of another record.
  record_signature swapped = sig;
  swapped.record_sha256[0] ^= 1;
  CHECK(verify_file(swapped, k.public_part(), record).outcome == verify_outcome::bad_signature);
  record_signature flipped = sig;
  flipped.signature[63] ^= 0x80;
  CHECK(verify_file(flipped, k.public_part(), record).outcome == verify_outcome::bad_signature);
}

TEST_CASE("truncated or garbled signature files fail clearly") {
  temp_dir dir;
  const std::string record = dir.file("record.jsonl");
  write_file_with_mode(record, record_text, 0644);
  const signing_key k = signing_key::generate();
  const std::string good = sign_file(k, record).format();
  const size_t sig_at = good.find("\nsignature ") + 11;
  const size_t sha_at = good.find("\nrecord-sha256 ") + 15;

  std::string bad_hex = good;
  bad_hex[sig_at + 5] = 'z';
  std::string flipped = good;
  flipped[sig_at + 5] = good[sig_at + 5] == '0' ? '1' : '0';
  std::string other_sha = good;
  other_sha[sha_at] = good[sha_at] == '0' ? '1' : '0';
  std::string other_length = good;
  other_length.replace(good.find("record-bytes ") + 13, std::to_string(record_text.size()).size(),
                       std::to_string(record_text.size() + 1));
  struct variant {
    const char* name;
    std::string text;
    verify_outcome outcome;
    const char* expected;
  };
  const std::vector<variant> variants = {
      {"last line dropped", good.substr(0, sig_at - 10), verify_outcome::malformed_signature,
       "truncated (missing 'signature' line)"},
      {"cut inside the signature hex", good.substr(0, good.size() - 21), verify_outcome::malformed_signature,
       "line 6: the signature is not 128 hexadecimal digits (it has 108 characters)"},
      {"cut inside the signature hex, no final LF", good.substr(0, sig_at + 100), verify_outcome::malformed_signature,
       "the signature is not 128 hexadecimal digits (it has 100 characters)"},
      {"bad hex", bad_hex, verify_outcome::malformed_signature, "line 6: the signature is not 128 hexadecimal"},
      {"wrong algorithm",
       std::string(good).replace(good.find("ed25519"), 7, "rsa-pss"), verify_outcome::malformed_signature,
       "line 2: algorithm 'rsa-pss' is not supported (only ed25519)"},
      {"empty", "", verify_outcome::malformed_signature, "no 'tracemark-signature 1' line"},
      {"not a signature", record_text, verify_outcome::malformed_signature,
       "line 1 is not 'tracemark-signature 1'"},
      {"record-bytes not a number", std::string(good).replace(good.find("record-bytes ") + 13, 1, "x"),
       verify_outcome::malformed_signature, "line 4: record-bytes is not a decimal number"},
      {"short digest", std::string(good).erase(sha_at, 2), verify_outcome::malformed_signature,
       "line 5: record-sha256 is not 64 hexadecimal digits"},
      {"a flipped signature digit", flipped, verify_outcome::bad_signature,
       "the signature does not match (forged or corrupted signature)"},
      {"an edited digest", other_sha, verify_outcome::bad_signature, "the signature does not match"},
      {"an edited length", other_length, verify_outcome::bad_signature, "the signature does not match"},
  };
  int i = 0;
  for (const variant& v : variants) {
    CAPTURE(v.name);
    const std::string path = dir.file("bad" + std::to_string(i++) + ".sig");
    write_file_with_mode(path, v.text, 0644);
    const verify_result r = verify_file(path, k.public_part(), record);
    CHECK(!r.valid());
    CHECK(r.outcome == v.outcome);
    CHECK_MESSAGE(contains(r.message, v.expected), r.message);
    if (v.outcome == verify_outcome::malformed_signature) {
      CHECK(contains(r.message, path));
      CHECK(thrown_by([&] { record_signature::load(path); }).code() == errc::invalid_argument);
    }
  }
  // CR LF line ends and comments are tolerated, as in key files.
  std::string crlf = "# signed by the provider\n";
  for (const char c : good) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  const std::string path = dir.file("crlf.sig");
  write_file_with_mode(path, crlf, 0644);
  CHECK(verify_file(path, k.public_part(), record).valid());
  // A missing signature file is an I/O error.
  CHECK(thrown_by([&] { verify_file(dir.file("none.sig"), k.public_part(), record); }).code() == errc::io);
}

TEST_CASE("a 50 MB record is signed and verified with bounded memory") {
  temp_dir dir;
  const std::string record = dir.file("big.jsonl");
  {
    std::ofstream out(record, std::ios::binary);
    std::string chunk(1 << 20, 'x');
    for (size_t i = 0; i < chunk.size(); i += 64) chunk[i] = '\n';
    for (int i = 0; i < 50; ++i) {
      chunk[1] = static_cast<char>('a' + i % 26);  // not 50 copies of one block
      out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    }
    REQUIRE(out.good());
  }
  rusage before{};
  REQUIRE(::getrusage(RUSAGE_SELF, &before) == 0);
  const signing_key k = signing_key::generate();
  const record_signature sig = sign_file(k, record);
  CHECK(sig.record_bytes == uint64_t{50} << 20);
  CHECK(verify_file(sig, k.public_part(), record).valid());
  rusage after{};
  REQUIRE(::getrusage(RUSAGE_SELF, &after) == 0);
  // ru_maxrss is in KiB; reading the file whole would add 50 MiB (more under ASan).
  CHECK(after.ru_maxrss - before.ru_maxrss < 20 * 1024);

  // The last byte changed: still detected after 50 MB.
  {
    std::fstream f(record, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(-1, std::ios::end);
    f.put('y');
  }
  CHECK(verify_file(sig, k.public_part(), record).outcome == verify_outcome::record_content_changed);
}
