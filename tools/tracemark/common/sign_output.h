// `--sign KEY` of detect, audit and merge: a detached Ed25519 signature of a record file
// (docs/EVIDENCE.md "Signed evidence"; the library side is tracemark/signing.h).
#pragma once
#include <string>

#include "tracemark/signing.h"

namespace tracemark::cli {

// Loads a signing key file; throws cli_error(exit_key) for key problems (missing, corrupt,
// readable by group/others, not a signing key) and cli_error(exit_io) when it cannot be
// read. Messages name the file and the problem, never the private key. Commands call it
// before their work, so a bad key fails early, then pass the key to sign_record_file below.
signing_key load_signing_key(const std::string& path);

// Signs the record file's exact bytes (streamed: any size) and writes record_path + ".sig",
// replacing an existing one atomically. Throws cli_error(exit_io). Returns the .sig path.
std::string sign_record_file(const std::string& record_path, const signing_key& key);

}  // namespace tracemark::cli
