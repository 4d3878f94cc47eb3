// tracemark verify RECORD SIG PUBKEY: checks a detached Ed25519 signature of an evidence
// record (written by detect, audit or merge with --sign; tracemark/signing.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <optional>

#include "common/cli.h"
#include "tracemark/error.h"
#include "tracemark/signing.h"

namespace tracemark::cli {
namespace {

struct verify_flags {
  std::string record, signature, public_key_path;
};

constexpr const char* verify_footer =
    "What is checked, in this order:\n"
    "  1. SIG is a well-formed tracemark signature file (algorithm ed25519);\n"
    "  2. the signer it names (tmks1:...) is the fingerprint of PUBKEY;\n"
    "  3. its Ed25519 signature, made with the matching signing key, covers the record length and\n"
    "     SHA-256 it states;\n"
    "  4. RECORD has exactly that length and SHA-256 now: every byte, whitespace included.\n\n"
    "What a valid signature proves: the record was issued by whoever holds the signing key of PUBKEY\n"
    "(check its fingerprint against the one the signer published), and it is unchanged byte for byte.\n"
    "What it does not prove: that the test in the record is right. Anyone can sign a wrong record; the\n"
    "statistics can only be checked by re-running 'tracemark detect' (or audit) with the watermark key\n"
    "on the same input and parameters (docs/EVIDENCE.md: the key under escrow).\n\n"
    "Output: one line on standard output, 'valid: RECORD was signed by tmks1:... and is unchanged\n"
    "(N bytes, sha256 ...)'; otherwise 'tracemark verify: invalid: <what failed>' on standard error.\n\n"
    "Example:\n"
    "  tracemark detect --key master.key --vocab-size 32000 tokens.jsonl -o result.jsonl --sign signing.key\n"
    "  tracemark verify result.jsonl result.jsonl.sig signing.key.pub\n\n"
    "Exit codes:\n"
    "  0  valid: signed by PUBKEY's key, record unchanged\n"
    "  1  invalid: malformed or truncated signature file, another signer, forged or corrupted\n"
    "     signature, or the record changed since it was signed\n"
    "  2  usage error\n"
    "  3  public key file problem: missing, malformed, fingerprint mismatch, or not a public key file\n"
    "  4  RECORD or SIG unreadable\n";

int run_verify(const verify_flags& f) {
  std::optional<public_key> pub;
  try {
    pub.emplace(public_key::load(f.public_key_path));
  } catch (const tracemark::error& e) {
    throw cli_error(e.code() == errc::io ? exit_io : exit_key, e.what());
  }
  std::optional<verify_result> r;
  try {
    r.emplace(verify_file(f.signature, *pub, f.record));
  } catch (const tracemark::error& e) {
    throw io_error(e.what());  // RECORD or SIG unreadable (or an OpenSSL failure)
  }
  if (!r->valid()) {
    print_error("verify", "invalid: " + r->message);
    return exit_record_error;
  }
  std::cout << "valid: " << r->message << "\n";
  std::cout.flush();
  return std::cout ? exit_ok : exit_io;
}

}  // namespace

command add_verify_command(CLI::App& parent) {
  auto f = std::make_shared<verify_flags>();
  CLI::App* app = parent.add_subcommand(
      "verify", "Check a signed evidence record: RECORD unchanged and signed by the key of PUBKEY (Ed25519)");
  app->add_option("RECORD", f->record, "The record file (detect, audit or merge output, as written)")
      ->required()
      ->type_name("FILE");
  app->add_option("SIG", f->signature, "Its detached signature (RECORD.sig, written by --sign)")
      ->required()
      ->type_name("FILE");
  app->add_option("PUBKEY", f->public_key_path,
                  "The signer's public key file (FILE.pub from 'tracemark keygen --signing --out FILE')")
      ->required()
      ->type_name("FILE");
  app->footer(verify_footer);
  return {app, [f]() -> int { return run_verify(*f); }};
}

}  // namespace tracemark::cli
