// The chat template of a GGUF model (chat_template.h).
#include "tracemark/llama/chat_template.h"

#include <gguf.h>
#include <llama.h>

#include <cstdint>

namespace tracemark {

chat_template::chat_template(const std::filesystem::path& gguf) {
  gguf_init_params params{};
  params.no_alloc = true;
  params.ctx = nullptr;
  gguf_context* ctx = gguf_init_from_file(gguf.c_str(), params);
  std::string tmpl;
  if (ctx) {
    const int64_t id = gguf_find_key(ctx, "tokenizer.chat_template");
    if (id >= 0 && gguf_get_kv_type(ctx, id) == GGUF_TYPE_STRING) tmpl = gguf_get_val_str(ctx, id);
    gguf_free(ctx);
  }
  if (tmpl.empty()) {
    description_ = "the model has no chat template: plain fallback (\"User: ...\\nAssistant:\")";
    return;
  }
  llama_chat_message probe{"user", "hello"};
  char buf[256];
  if (llama_chat_apply_template(tmpl.c_str(), &probe, 1, true, buf, sizeof buf) < 0) {
    description_ = "the model's chat template is not one llama.cpp can apply: plain fallback";
    return;
  }
  template_ = tmpl;
  description_ = "the model's chat template (llama.cpp built-in formats)";
}

std::string chat_template::render(const std::vector<chat_message>& messages, bool& parse_special) const {
  if (!template_.empty()) {
    std::vector<llama_chat_message> msgs;
    for (const chat_message& m : messages) msgs.push_back({m.role.c_str(), m.content.c_str()});
    std::string out(4096, '\0');
    int32_t n = llama_chat_apply_template(template_.c_str(), msgs.data(), msgs.size(), true, out.data(),
                                          static_cast<int32_t>(out.size()));
    if (n > static_cast<int32_t>(out.size())) {
      out.resize(static_cast<size_t>(n));
      n = llama_chat_apply_template(template_.c_str(), msgs.data(), msgs.size(), true, out.data(), n);
    }
    if (n >= 0) {
      out.resize(static_cast<size_t>(n));
      parse_special = true;
      return out;
    }
  }
  // Plain fallback, documented in docs/SERVER.md.
  parse_special = false;
  std::string out;
  for (const chat_message& m : messages) {
    std::string role = m.role;
    if (role == "developer") role = "system";
    role[0] = static_cast<char>(role[0] - 'a' + 'A');
    out += role + ": " + m.content + "\n";
  }
  out += "Assistant:";
  return out;
}

}  // namespace tracemark
