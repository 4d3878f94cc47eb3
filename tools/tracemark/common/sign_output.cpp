// `--sign KEY` of detect, audit and merge (common/sign_output.h).
#include "common/sign_output.h"

#include "common/cli.h"
#include "tracemark/error.h"

namespace tracemark::cli {

signing_key load_signing_key(const std::string& path) {
  try {
    return signing_key::load(path);
  } catch (const tracemark::error& e) {
    throw cli_error(e.code() == errc::io ? exit_io : exit_key, std::string("--sign: ") + e.what());
  }
}

std::string sign_record_file(const std::string& record_path, const signing_key& key) {
  const std::string signature_path = record_path + ".sig";
  try {
    write_signature(sign_file(key, record_path), signature_path);
  } catch (const tracemark::error& e) {
    throw io_error(std::string("--sign: ") + e.what() + " (no signature was written)");
  }
  return signature_path;
}

}  // namespace tracemark::cli
