// tracemark keygen --out FILE: a fresh master key, written with mode 0600.
// tracemark keygen --signing --out FILE: a fresh Ed25519 signing key (FILE, mode 0600) and
// its public key (FILE.pub), for signed evidence records (tracemark/signing.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <optional>

#include "common/cli.h"
#include "tracemark/error.h"
#include "tracemark/key.h"
#include "tracemark/signing.h"

namespace tracemark::cli {
namespace {

struct keygen_flags {
  std::string out;
  bool signing = false;
};

int run_master_keygen(const keygen_flags& f) {
  std::optional<tracemark::key> k;
  try {
    k.emplace(tracemark::key::generate());
  } catch (const tracemark::error& e) {
    throw cli_error(exit_io, e.what());
  }
  try {
    k->save(f.out);
  } catch (const tracemark::error& e) {
    throw cli_error(exit_key, e.what());
  }
  std::cout << "fingerprint " << k->fingerprint() << "\n"
            << "wrote " << f.out << " (mode 0600; keep it secret, back it up)\n";
  std::cout.flush();
  return std::cout ? exit_ok : exit_io;
}

int run_signing_keygen(const keygen_flags& f) {
  std::optional<signing_key> k;
  try {
    k.emplace(signing_key::generate());
  } catch (const tracemark::error& e) {
    throw cli_error(exit_io, e.what());
  }
  try {
    k->save(f.out);  // refuses to overwrite FILE or FILE.pub; leaves nothing behind on failure
  } catch (const tracemark::error& e) {
    throw cli_error(exit_key, e.what());
  }
  std::cout << "fingerprint " << k->fingerprint() << "\n"
            << "wrote " << f.out << " (signing key, mode 0600; keep it secret, back it up)\n"
            << "wrote " << f.out << ".pub (public key: publish it with its fingerprint; 'tracemark verify' needs it)\n";
  std::cout.flush();
  return std::cout ? exit_ok : exit_io;
}

}  // namespace

command add_keygen_command(CLI::App& parent) {
  auto f = std::make_shared<keygen_flags>();
  CLI::App* app = parent.add_subcommand(
      "keygen",
      "Generate a new 256-bit master key (OpenSSL RAND_priv_bytes) and write it to a new file, mode 0600; "
      "with --signing, an Ed25519 key pair for signing evidence records");
  app->add_option("--out,-o", f->out, "Key file to create; an existing file is never overwritten")
      ->required()
      ->type_name("FILE");
  app->add_flag("--signing", f->signing,
                "Make an Ed25519 signing key pair instead of a watermark key: the private key in FILE "
                "(mode 0600) and the public key in FILE.pub. Sign records with 'detect/audit/merge --sign FILE'; "
                "others check them with 'tracemark verify RECORD RECORD.sig FILE.pub'");
  app->footer(
      "Prints the key's public fingerprint (tmk1:... for a watermark key, tmks1:... for a signing key) and\n"
      "the paths written; never the secret. Keep key files private: readers refuse key files readable by\n"
      "group or others. Keep the signing key apart from the watermark key: it only vouches for records,\n"
      "and can be rotated (publish each new FILE.pub and its fingerprint) without touching the watermark.\n\n"
      "Examples:\n"
      "  tracemark keygen --out ~/.config/tracemark/master.key\n"
      "  tracemark keygen --signing --out ~/.config/tracemark/signing.key   # also writes signing.key.pub\n\n"
      "Exit codes:\n"
      "  0  key written\n"
      "  2  usage error\n"
      "  3  a key file could not be created (it already exists, or its directory is missing or not writable)\n"
      "  4  no key could be generated (OpenSSL failure)\n");

  return {app, [f]() -> int { return f->signing ? run_signing_keygen(*f) : run_master_keygen(*f); }};
}

}  // namespace tracemark::cli
