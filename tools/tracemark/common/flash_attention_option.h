// --flash-attn auto|on|off for the subcommands that decode with llama.cpp (generate, serve).
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "tracemark/llama/engine.h"

namespace tracemark::cli {

inline void add_flash_attention_option(CLI::App& app, std::string& target) {
  app.add_option("--flash-attn", target,
                 "Flash attention in llama.cpp: auto (llama.cpp decides), on, or off (faster for tiny models "
                 "such as stories260K: 3.5x at 1,000 tokens)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
}

// The value checked by the option above.
inline flash_attention flash_attention_from(const std::string& name) {
  return name == "on" ? flash_attention::on : name == "off" ? flash_attention::off : flash_attention::automatic;
}

}  // namespace tracemark::cli
