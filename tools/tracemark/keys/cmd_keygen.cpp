// tracemark keygen --out FILE: a fresh master key, written with mode 0600.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <optional>

#include "common/cli.h"
#include "tracemark/error.h"
#include "tracemark/key.h"

namespace tracemark::cli {

command add_keygen_command(CLI::App& parent) {
  auto out = std::make_shared<std::string>();
  CLI::App* app = parent.add_subcommand(
      "keygen",
      "Generate a new 256-bit master key (OpenSSL RAND_priv_bytes) and write it to a new file, mode 0600");
  app->add_option("--out,-o", *out, "Key file to create; an existing file is never overwritten")
      ->required()
      ->type_name("FILE");
  app->footer(
      "Prints the key's public fingerprint (tmk1:...) and the path; never the secret.\n"
      "Keep the file private: readers refuse key files readable by group or others.\n\n"
      "Example:\n"
      "  tracemark keygen --out ~/.config/tracemark/master.key\n\n"
      "Exit codes:\n"
      "  0  key written\n"
      "  2  usage error\n"
      "  3  the key file could not be created (it already exists, or its directory is missing or not writable)\n"
      "  4  no key could be generated (OpenSSL RNG failure)\n");

  return {app, [out]() -> int {
            std::optional<tracemark::key> k;
            try {
              k.emplace(tracemark::key::generate());
            } catch (const tracemark::error& e) {
              print_error("keygen", e.what());
              return exit_io;
            }
            try {
              k->save(*out);
            } catch (const tracemark::error& e) {
              print_error("keygen", e.what());
              return exit_key;
            }
            std::cout << "fingerprint " << k->fingerprint() << "\n"
                      << "wrote " << *out << " (mode 0600; keep it secret, back it up)\n";
            std::cout.flush();
            return std::cout ? exit_ok : exit_io;
          }};
}

}  // namespace tracemark::cli
