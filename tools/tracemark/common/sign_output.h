// `--sign KEY` of detect, audit and merge: a detached Ed25519 signature of a record file
// (docs/EVIDENCE.md "Signed evidence").
#pragma once
#include <string>

namespace tracemark::cli {

// Loads the signing key (cli_error exit 3 for key problems), signs the file's bytes, and
// writes record_path + ".sig" (cli_error exit 4 for I/O). Returns the signature's path.
std::string sign_record_file(const std::string& record_path, const std::string& signing_key_path);

}  // namespace tracemark::cli
