// What a loaded Tokenizer holds (private to src/tokenizer).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"

namespace bitnet {

struct AddedToken {
  std::string text;
  int32_t id;
  bool control;  // matched only when the caller asks for special tokens
};

struct TokenizerData {
  std::string source_name;
  // GGUF form, kept for tokens()/merges()/token_types().
  std::vector<std::string> tokens;
  std::vector<std::string> merges;
  std::vector<int32_t> token_types;
  bool ignore_merges = true;

  std::vector<std::string> token_bytes;  // raw bytes of each id
  BpeModel bpe;
  PreTokenizer pretokenizer;

  std::vector<AddedToken> added;
  std::unordered_map<std::string, int32_t> added_id_of_text;
  // Indices into `added` by first byte, longest text first, so a scan finds the leftmost-longest match
  // (Hugging Face splits added tokens out of the text that way).
  std::array<std::vector<uint32_t>, 256> added_by_first_byte;

  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t eot_id = -1;
};

}  // namespace bitnet
