#include "tokenizer/chat_format.h"

#include <string_view>

#include "util/error.h"

namespace bitnet {
namespace {

// Python's str.isspace() set: the reference template strips content with Jinja's trim, which is
// str.strip(), so this set (not just ASCII blanks) decides what is stripped.
bool IsPythonSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Decodes the well-formed character at s[pos]; returns its length, or 0 when the bytes there are not
// valid UTF-8 (those are never stripped).
size_t DecodeAt(std::string_view s, size_t pos, char32_t& cp) {
  const auto b0 = static_cast<uint8_t>(s[pos]);
  size_t len;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
  } else {
    // Every stripped character is below U+10000, so longer sequences need no decoding.
    return 0;
  }
  if (pos + len > s.size()) return 0;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<uint8_t>(s[pos + i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

std::string_view StripWhitespace(std::string_view s) {
  char32_t cp;
  while (!s.empty()) {
    const size_t len = DecodeAt(s, 0, cp);
    if (len == 0 || !IsPythonSpace(cp)) break;
    s.remove_prefix(len);
  }
  while (!s.empty()) {
    size_t start = s.size() - 1;
    while (start > 0 && s.size() - start < 3 && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
    const size_t len = DecodeAt(s, start, cp);
    if (len == 0 || start + len != s.size() || !IsPythonSpace(cp)) break;
    s.remove_suffix(len);
  }
  return s;
}

std::string RoleLabel(std::string_view role) {
  std::string lower(role);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (lower == "system") return "System";
  if (lower == "user") return "User";
  if (lower == "assistant") return "Assistant";
  throw Error("chat message role \"" + std::string(role) + "\": expected system, user or assistant");
}

int32_t RequireSpecial(const Tokenizer& tok, int32_t id, const char* name) {
  if (id < 0) throw Error(std::string("chat format: the vocabulary has no ") + name + " token");
  return id;
}

}  // namespace

std::vector<int32_t> EncodeChat(const Tokenizer& tok, std::span<const ChatMessage> messages,
                                bool add_generation_prompt) {
  const int32_t bos = RequireSpecial(tok, tok.bos_id(), "<|begin_of_text|>");
  const int32_t eot = RequireSpecial(tok, tok.eot_id(), "<|eot_id|>");
  // The rendered prompt is split at its special tokens and each text segment encoded on its own, as
  // Hugging Face tokenizes apply_chat_template's string; encoding segment by segment gives exactly that.
  std::vector<int32_t> ids{bos};
  auto append = [&](const std::vector<int32_t>& more) { ids.insert(ids.end(), more.begin(), more.end()); };
  for (const ChatMessage& message : messages) {
    std::string text = RoleLabel(message.role);
    text += ": ";
    text += StripWhitespace(message.content);
    append(tok.Encode(text, /*parse_special=*/false));
    ids.push_back(eot);
  }
  if (add_generation_prompt) append(tok.Encode("Assistant: ", /*parse_special=*/false));
  return ids;
}

bool IsEndOfTurn(const Tokenizer& tok, int32_t id) {
  return id >= 0 && (id == tok.eot_id() || id == tok.eos_id());
}

}  // namespace bitnet
