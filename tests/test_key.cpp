// Key files (docs/SPEC.md §1) through the public API of tracemark/key.h:
// creation with mode 0600, round trips, refusal to overwrite, and every way a
// reader must refuse a file, without ever putting the secret in a message.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>

#include "mode_files.h"
#include "tracemark/error.h"
#include "tracemark/key.h"

namespace {

using testing_util::file_mode;
using testing_util::read_file;
using testing_util::write_file_with_mode;

struct temp_dir : testing_util::temp_dir {
  temp_dir() : testing_util::temp_dir("tracemark-key-test") {}
};

std::string hex(const tracemark::key::secret_bytes& s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : s) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// A fixed test secret (bytes a0..bf) and its key file lines.
tracemark::key::secret_bytes test_secret() {
  tracemark::key::secret_bytes s{};
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(0xa0 + i);
  return s;
}

struct key_text {
  std::string magic = "tracemark-key 1";
  std::string secret;       // 64 hex digits
  std::string fingerprint;  // tmk1:...
  std::string text() const {
    return "# tracemark master key (test)\n" + magic + "\nsecret " + secret + "\nfingerprint " +
           fingerprint + "\n";
  }
};

key_text valid_text() {
  const auto k = tracemark::key::from_secret(test_secret());
  return {"tracemark-key 1", hex(k.secret()), k.fingerprint()};
}

// Loads `path`, expecting a tracemark::error with `code`; returns its message.
// Checks that no form of `secret_hex` (nor a long piece of it) leaks into the message.
std::string expect_load_error(const std::string& path, tracemark::errc code,
                              const std::string& secret_hex) {
  std::string message;
  bool thrown = false;
  try {
    (void)tracemark::key::load(path);
  } catch (const tracemark::error& e) {
    thrown = true;
    message = e.what();
    CHECK_MESSAGE(e.code() == code, "code " << static_cast<int>(e.code()) << ", message: " << message);
  }
  CHECK_MESSAGE(thrown, "load(" << path << ") did not throw tracemark::error");
  CHECK(!message.empty());
  for (const std::string& s : {secret_hex, upper(secret_hex)}) {
    // Any 16-digit window of the secret counts as a leak.
    for (size_t i = 0; i + 16 <= s.size(); i += 8)
      CHECK_MESSAGE(message.find(s.substr(i, 16)) == std::string::npos,
                    "secret leaked into error message: " << message);
  }
  return message;
}

}  // namespace

TEST_CASE("generate + save creates a 0600 file and load round-trips it") {
  temp_dir dir;
  const std::string path = dir.file("master.key");
  const auto k = tracemark::key::generate();
  CHECK(k.fingerprint().rfind("tmk1:", 0) == 0);
  CHECK(k.fingerprint().size() == 5 + 16);

  // The mode must not depend on the process umask.
  const mode_t old_umask = ::umask(0);
  k.save(path);
  ::umask(old_umask);
  CHECK(file_mode(path) == 0600);

  const auto loaded = tracemark::key::load(path);
  CHECK(loaded.fingerprint() == k.fingerprint());
  CHECK(loaded.secret() == k.secret());

  // The file follows §1: magic, secret and fingerprint lines (comments allowed).
  const std::string text = read_file(path);
  CHECK(text.size() <= 4096);
  CHECK(text.find("tracemark-key 1\n") != std::string::npos);
  CHECK(text.find("secret " + hex(k.secret()) + "\n") != std::string::npos);
  CHECK(text.find("fingerprint " + k.fingerprint() + "\n") != std::string::npos);

  // Two generated keys differ.
  CHECK(tracemark::key::generate().secret() != k.secret());
}

TEST_CASE("save refuses to overwrite an existing file") {
  temp_dir dir;
  const std::string path = dir.file("master.key");
  const auto first = tracemark::key::generate();
  first.save(path);
  const std::string before = read_file(path);

  const auto second = tracemark::key::generate();
  bool thrown = false;
  try {
    second.save(path);
  } catch (const tracemark::error& e) {
    thrown = true;
    const std::string msg = e.what();
    CHECK(msg.find(hex(second.secret())) == std::string::npos);
    CHECK(msg.find(hex(first.secret())) == std::string::npos);
  }
  CHECK(thrown);
  CHECK(read_file(path) == before);
  CHECK(tracemark::key::load(path).fingerprint() == first.fingerprint());

  // Also when the existing entry is some unrelated file.
  const std::string other = dir.file("other.txt");
  write_file_with_mode(other, "not a key\n", 0644);
  CHECK_THROWS_AS(second.save(other), tracemark::error);
  CHECK(read_file(other) == "not a key\n");
}

TEST_CASE("a hand-written key file with comments loads; from_secret matches") {
  temp_dir dir;
  const key_text t = valid_text();
  const std::string path = dir.file("hand.key");
  write_file_with_mode(path, "# first comment\n# second comment\n" + t.text());
  const auto k = tracemark::key::load(path);
  CHECK(k.secret() == test_secret());
  CHECK(k.fingerprint() == t.fingerprint);
}

TEST_CASE("load: missing file") {
  temp_dir dir;
  const std::string path = dir.file("does-not-exist.key");
  const std::string msg = expect_load_error(path, tracemark::errc::key_missing, "");
  CHECK(msg.find(path) != std::string::npos);
}

TEST_CASE("load: group- or world-accessible file is refused") {
  temp_dir dir;
  const key_text t = valid_text();
  for (const mode_t mode : {mode_t{0644}, mode_t{0640}, mode_t{0604}, mode_t{0660}, mode_t{0602},
                            mode_t{0620}, mode_t{0601}, mode_t{0610}}) {
    char name[32];
    std::snprintf(name, sizeof name, "mode-%04o.key", static_cast<unsigned>(mode));
    CAPTURE(name);
    const std::string path = dir.file(name);
    write_file_with_mode(path, t.text(), mode);
    REQUIRE(file_mode(path) == mode);
    const std::string msg = expect_load_error(path, tracemark::errc::key_permissions, t.secret);
    CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("chmod 600") != std::string::npos, msg);
  }
  // Owner-only modes stricter than 0600 are fine.
  const std::string ro = dir.file("mode-0400.key");
  write_file_with_mode(ro, t.text(), 0400);
  CHECK(tracemark::key::load(ro).fingerprint() == t.fingerprint);
}

TEST_CASE("load: truncated files") {
  temp_dir dir;
  const key_text t = valid_text();

  SUBCASE("only the first line") {
    const std::string path = dir.file("first-line.key");
    write_file_with_mode(path, t.magic + "\n");
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
  }
  SUBCASE("empty file") {
    const std::string path = dir.file("empty.key");
    write_file_with_mode(path, "");
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
  }
  SUBCASE("only comments") {
    const std::string path = dir.file("comments.key");
    write_file_with_mode(path, "# nothing here\n");
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
  }
  SUBCASE("secret line cut short") {
    const std::string path = dir.file("cut.key");
    write_file_with_mode(path, t.magic + "\nsecret " + t.secret.substr(0, 40));
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret.substr(0, 40));
  }
  SUBCASE("secret line cut short, fingerprint present") {
    const std::string path = dir.file("cut2.key");
    key_text u = t;
    u.secret = t.secret.substr(0, 63);
    write_file_with_mode(path, u.text());
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret.substr(0, 63));
  }
  SUBCASE("fingerprint line missing") {
    const std::string path = dir.file("no-fp.key");
    write_file_with_mode(path, t.magic + "\nsecret " + t.secret + "\n");
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
  }
  SUBCASE("secret line missing") {
    const std::string path = dir.file("no-secret.key");
    write_file_with_mode(path, t.magic + "\nfingerprint " + t.fingerprint + "\n");
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
  }
}

TEST_CASE("load: corrupt files") {
  temp_dir dir;
  const key_text t = valid_text();

  SUBCASE("non-hex secret") {
    key_text u = t;
    u.secret[10] = 'g';
    const std::string path = dir.file("nonhex.key");
    write_file_with_mode(path, u.text());
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
    // ... and no window of the corrupted secret either.
    expect_load_error(path, tracemark::errc::key_corrupt, u.secret);
  }
  SUBCASE("secret too long") {
    key_text u = t;
    u.secret += "00";
    const std::string path = dir.file("long.key");
    write_file_with_mode(path, u.text());
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
  }
  SUBCASE("fingerprint mismatch (one secret digit edited)") {
    key_text u = t;
    u.secret[0] = u.secret[0] == '0' ? '1' : '0';
    const std::string path = dir.file("edited.key");
    write_file_with_mode(path, u.text());
    expect_load_error(path, tracemark::errc::key_corrupt, u.secret);
  }
  SUBCASE("fingerprint mismatch (fingerprint edited)") {
    key_text u = t;
    u.fingerprint.back() = u.fingerprint.back() == '0' ? '1' : '0';
    const std::string path = dir.file("edited-fp.key");
    write_file_with_mode(path, u.text());
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
  }
  SUBCASE("wrong magic line") {
    for (const char* magic : {"tracemark-key 2", "tracemark-key", "trace-key 1", "secret"}) {
      CAPTURE(magic);
      key_text u = t;
      u.magic = magic;
      const std::string path = dir.file(std::string("magic-") + std::to_string(std::strlen(magic)) + ".key");
      write_file_with_mode(path, u.text());
      expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
    }
  }
  SUBCASE("file over 4096 bytes") {
    // A valid key file after one long comment line, `size` bytes in total.
    const std::string text = t.text();
    auto padded_to = [&](size_t size) {
      return "#" + std::string(size - text.size() - 2, 'y') + "\n" + text;
    };
    const std::string padded = padded_to(4097);
    REQUIRE(padded.size() == 4097);
    const std::string path = dir.file("big.key");
    write_file_with_mode(path, padded);
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);

    // Exactly 4096 bytes is still a valid key file.
    const std::string ok = padded_to(4096);
    REQUIRE(ok.size() == 4096);
    const std::string ok_path = dir.file("4096.key");
    write_file_with_mode(ok_path, ok);
    CHECK(tracemark::key::load(ok_path).fingerprint() == t.fingerprint);

    // A huge file is refused too (without reading it all).
    const std::string huge_path = dir.file("huge.key");
    write_file_with_mode(huge_path, t.text() + std::string(1 << 20, '#'));
    expect_load_error(huge_path, tracemark::errc::key_corrupt, t.secret);
  }
  SUBCASE("unknown field") {
    const std::string path = dir.file("unknown-field.key");
    write_file_with_mode(path, t.text() + "comment hello\n");
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
  }
  SUBCASE("a directory") {
    const std::string path = dir.file("a-directory.key");
    REQUIRE(::mkdir(path.c_str(), 0700) == 0);
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
  }
}

// A malformed secret line (tab or '=' instead of the space, or a bare hex line pasted
// into the file) must not put the secret into the error message (SPEC §1).
TEST_CASE("load: a malformed secret line never echoes the secret") {
  temp_dir dir;
  const key_text t = valid_text();
  int i = 0;
  for (const std::string& bad : {"secret\t" + t.secret, "secret=" + t.secret, t.secret,
                                 "secret:" + t.secret}) {
    const int variant = i++;
    CAPTURE(variant);
    const std::string path = dir.file("malformed-" + std::to_string(variant) + ".key");
    write_file_with_mode(path, t.magic + "\n" + bad + "\nfingerprint " + t.fingerprint + "\n");
    expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
  }
}

// ---------------------------------------------------------------------------
// The key-file grammar of docs/SPEC.md §1, one decision at a time. Every file the
// grammar accepts was also accepted by earlier readers (so a file never loads in one
// version and not in an older one), and everything `save` writes is accepted.

namespace {

// Writes `content` as a new key file and loads it, expecting success: the test secret.
void expect_loads(temp_dir& dir, const std::string& name, const std::string& content) {
  CAPTURE(name);
  const std::string path = dir.file(name + ".key");
  write_file_with_mode(path, content);
  try {
    const auto k = tracemark::key::load(path);
    CHECK(k.secret() == test_secret());
  } catch (const tracemark::error& e) {
    FAIL_CHECK("refused: " << e.what());
  }
}

// Writes `content` as a new key file and expects key_corrupt with a message naming the
// file and `line` (0: no particular line), never any piece of the secret.
void expect_refused(temp_dir& dir, const std::string& name, const std::string& content, int line) {
  CAPTURE(name);
  const std::string path = dir.file(name + ".key");
  write_file_with_mode(path, content);
  const std::string msg = expect_load_error(path, tracemark::errc::key_corrupt, valid_text().secret);
  CHECK_MESSAGE(msg.find("key file " + path + ": ") == 0, msg);
  if (line > 0) {
    const std::string at = "line " + std::to_string(line);
    const size_t p = msg.find(at);
    CHECK_MESSAGE((p != std::string::npos && (p + at.size() == msg.size() || !std::isdigit(static_cast<unsigned char>(msg[p + at.size()])))),
                  "expected '" << at << "' in: " << msg);
  }
}

std::string body(const key_text& t, const std::string& eol = "\n") {
  return t.magic + eol + "secret " + t.secret + eol + "fingerprint " + t.fingerprint + eol;
}

}  // namespace

TEST_CASE("key grammar: what save writes loads, and so do LF, CR LF and a missing last newline") {
  temp_dir dir;
  const key_text t = valid_text();
  const std::string saved = dir.file("saved.key");
  tracemark::key::from_secret(test_secret()).save(saved);
  CHECK(tracemark::key::load(saved).secret() == test_secret());

  expect_loads(dir, "lf", body(t));
  expect_loads(dir, "crlf", body(t, "\r\n"));
  expect_loads(dir, "mixed", t.magic + "\r\nsecret " + t.secret + "\nfingerprint " + t.fingerprint + "\r\n");
  const std::string no_last_newline = body(t);
  expect_loads(dir, "no-last-newline", no_last_newline.substr(0, no_last_newline.size() - 1));
  const std::string crlf = body(t, "\r\n");
  expect_loads(dir, "crlf-no-last-newline", crlf.substr(0, crlf.size() - 2));
}

TEST_CASE("key grammar: comments start with '#' in the first column and may hold any UTF-8 text and tabs") {
  temp_dir dir;
  const key_text t = valid_text();
  expect_loads(dir, "blank-and-comments-anywhere",
               "\n# a\n\n" + t.magic + "\n\n#\nsecret " + t.secret + "\n# b\n\nfingerprint " + t.fingerprint +
                   "\n\n# end\n");
  expect_loads(dir, "utf8-comment", "# cl\xc3\xa9 \xf0\x9f\x94\x91 \xe6\x9d\xb1\xe4\xba\xac\n" + body(t));
  expect_loads(dir, "tab-and-trailing-blanks-in-comment", "#\tnote \t \n" + body(t));
  expect_loads(dir, "c1-control-in-comment", "# \xc2\x85\n" + body(t));  // U+0085: valid UTF-8
  expect_refused(dir, "indented-comment", " # note\n" + body(t), 1);
  expect_refused(dir, "tab-indented-comment", t.magic + "\n\t# note\nsecret " + t.secret + "\nfingerprint " +
                                                  t.fingerprint + "\n", 2);
}

TEST_CASE("key grammar: invalid UTF-8 anywhere is refused, naming the file and line, never the content") {
  temp_dir dir;
  const key_text t = valid_text();
  const struct {
    const char* name;
    std::string bytes;
  } bad[] = {
      {"ff", "\xff"},
      {"lone-continuation", "\x80"},
      {"overlong-c0", "\xc0\xaf"},
      {"overlong-e0", "\xe0\x80\xaf"},
      {"overlong-f0", "\xf0\x80\x80\xaf"},
      {"surrogate", "\xed\xa0\x80"},
      {"above-10ffff", "\xf4\x90\x80\x80"},
      {"f5", "\xf5\x80\x80\x80"},
      {"truncated-3", "\xe2\x82"},
      {"truncated-at-end-of-line", "caf\xc3"},
  };
  for (const auto& b : bad) {
    expect_refused(dir, std::string("comment-") + b.name, "# " + b.bytes + "\n" + body(t), 1);
    expect_refused(dir, std::string("after-fields-") + b.name, body(t) + "# " + b.bytes + "\n", 4);
  }
  // Also on a field line, and the message says what is wrong.
  const std::string path = dir.file("secret-line.key");
  write_file_with_mode(path, t.magic + "\nsecret " + t.secret.substr(0, 62) + "\xe9" "0\nfingerprint " + t.fingerprint + "\n");
  const std::string msg = expect_load_error(path, tracemark::errc::key_corrupt, t.secret);
  CHECK(msg.find("line 2") != std::string::npos);
  CHECK(msg.find("UTF-8") != std::string::npos);
}

TEST_CASE("key grammar: a UTF-8 byte order mark is refused") {
  temp_dir dir;
  const key_text t = valid_text();
  expect_refused(dir, "bom", "\xef\xbb\xbf" + t.text(), 1);
  expect_refused(dir, "bom-before-format-line", "\xef\xbb\xbf" + body(t), 1);
  const std::string path = dir.file("bom-message.key");
  write_file_with_mode(path, "\xef\xbb\xbf" + body(t));
  CHECK(expect_load_error(path, tracemark::errc::key_corrupt, t.secret).find("byte order mark") !=
        std::string::npos);
}

TEST_CASE("key grammar: control characters other than tab are refused, in comments too; CR only before LF") {
  temp_dir dir;
  const key_text t = valid_text();
  expect_refused(dir, "nul-in-comment", std::string("# a\0b\n", 6) + body(t), 1);
  expect_refused(dir, "del-in-comment", "# \x7f\n" + body(t), 1);
  expect_refused(dir, "esc-in-comment", "# \x1b[0m\n" + body(t), 1);
  expect_refused(dir, "cr-inside-comment", "# a\rb\n" + body(t), 1);
  expect_refused(dir, "cr-cr-lf", t.magic + "\r\r\nsecret " + t.secret + "\nfingerprint " + t.fingerprint + "\n", 1);
  const std::string b = body(t);
  expect_refused(dir, "cr-at-end-of-file", b.substr(0, b.size() - 1) + "\r", 3);
  expect_refused(dir, "nul-after-secret",
                 t.magic + "\nsecret " + t.secret + std::string("\0", 1) + "\nfingerprint " + t.fingerprint + "\n", 2);
}

TEST_CASE("key grammar: a field is its name, exactly one space and its value, with nothing after it") {
  temp_dir dir;
  const key_text t = valid_text();
  const std::string s = t.secret, f = t.fingerprint, m = t.magic;
  expect_refused(dir, "two-spaces", m + "\nsecret  " + s + "\nfingerprint " + f + "\n", 2);
  expect_refused(dir, "tab", m + "\nsecret\t" + s + "\nfingerprint " + f + "\n", 2);
  expect_refused(dir, "equals", m + "\nsecret=" + s + "\nfingerprint " + f + "\n", 2);
  expect_refused(dir, "indented-field", m + "\n secret " + s + "\nfingerprint " + f + "\n", 2);
  expect_refused(dir, "trailing-space-secret", m + "\nsecret " + s + " \nfingerprint " + f + "\n", 2);
  expect_refused(dir, "trailing-tab-fingerprint", m + "\nsecret " + s + "\nfingerprint " + f + "\t\n", 3);
  expect_refused(dir, "trailing-space-crlf", m + "\r\nsecret " + s + " \r\nfingerprint " + f + "\r\n", 2);
  expect_refused(dir, "trailing-space-format-line", m + " \nsecret " + s + "\nfingerprint " + f + "\n", 1);
  expect_refused(dir, "spaces-only-line", m + "\n  \nsecret " + s + "\nfingerprint " + f + "\n", 2);
  expect_refused(dir, "tab-only-line", "\t\n" + body(t), 1);
  expect_refused(dir, "empty-secret", m + "\nsecret \nfingerprint " + f + "\n", 2);
  expect_refused(dir, "secret-63", m + "\nsecret " + s.substr(0, 63) + "\nfingerprint " + f + "\n", 2);
  expect_refused(dir, "secret-65", m + "\nsecret " + s + "0\nfingerprint " + f + "\n", 2);
  expect_refused(dir, "fingerprint-15", m + "\nsecret " + s + "\nfingerprint " + f.substr(0, f.size() - 1) + "\n", 3);
  expect_refused(dir, "fingerprint-17", m + "\nsecret " + s + "\nfingerprint " + f + "0\n", 3);
  expect_refused(dir, "fingerprint-no-prefix", m + "\nsecret " + s + "\nfingerprint " + f.substr(5) + "\n", 3);
  expect_refused(dir, "unknown-field", body(t) + "comment hello\n", 4);
}

TEST_CASE("key grammar: names, the format line and 'tmk1:' are lowercase; hex digits may be either case") {
  temp_dir dir;
  const key_text t = valid_text();
  const std::string s = t.secret, f = t.fingerprint, m = t.magic;
  expect_loads(dir, "uppercase-hex", m + "\nsecret " + upper(s) + "\nfingerprint tmk1:" + upper(f.substr(5)) + "\n");
  expect_refused(dir, "uppercase-name", m + "\nSecret " + s + "\nfingerprint " + f + "\n", 2);
  expect_refused(dir, "uppercase-fingerprint-name", m + "\nsecret " + s + "\nFINGERPRINT " + f + "\n", 3);
  expect_refused(dir, "uppercase-prefix", m + "\nsecret " + s + "\nfingerprint TMK1:" + f.substr(5) + "\n", 3);
  expect_refused(dir, "uppercase-format-line", "Tracemark-key 1\nsecret " + s + "\nfingerprint " + f + "\n", 1);
  // The prefix error is reported as malformed, not as a mismatch with the secret.
  const std::string path = dir.file("prefix-message.key");
  write_file_with_mode(path, m + "\nsecret " + s + "\nfingerprint TMK1:" + f.substr(5) + "\n");
  CHECK(expect_load_error(path, tracemark::errc::key_corrupt, s).find("'tmk1:'") != std::string::npos);
}

TEST_CASE("key grammar: the format line comes first; each field exactly once, in either order") {
  temp_dir dir;
  const key_text t = valid_text();
  const std::string s = t.secret, f = t.fingerprint, m = t.magic;
  expect_loads(dir, "fingerprint-first", m + "\nfingerprint " + f + "\nsecret " + s + "\n");
  expect_refused(dir, "secret-twice", m + "\nsecret " + s + "\nsecret " + s + "\nfingerprint " + f + "\n", 3);
  expect_refused(dir, "fingerprint-twice", body(t) + "fingerprint " + f + "\n", 4);
  expect_refused(dir, "format-line-twice", m + "\n" + m + "\nsecret " + s + "\nfingerprint " + f + "\n", 2);
  expect_refused(dir, "field-before-format-line", "secret " + s + "\n" + m + "\nfingerprint " + f + "\n", 1);
  expect_refused(dir, "format-version-2", "tracemark-key 2\nsecret " + s + "\nfingerprint " + f + "\n", 1);
  expect_refused(dir, "only-format-line", m + "\n", 0);
  expect_refused(dir, "empty-lines-only", "\n\n", 0);
}
