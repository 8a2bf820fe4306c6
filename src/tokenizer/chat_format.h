// The chat prompt format of BitNet b1.58 2B-4T.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace bitnet {

struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant" (case-insensitive)
  std::string content;
};

// <|begin_of_text|> then per message "Role: content<|eot_id|>" (Role = System/User/Assistant, content
// stripped of leading/trailing whitespace), then, if add_generation_prompt, "Assistant: ". Message text is
// encoded with parse_special=false (users cannot inject special tokens); only the template adds special
// ids. Throws Error on an unknown role.
std::vector<int32_t> EncodeChat(const Tokenizer& tok, std::span<const ChatMessage> messages,
                                bool add_generation_prompt = true);

// True for ids that end a reply: <|eot_id|> (128009) and <|end_of_text|> (128001).
bool IsEndOfTurn(const Tokenizer& tok, int32_t id);

}  // namespace bitnet
