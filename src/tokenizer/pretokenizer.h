// Splits text into the pieces that byte-level BPE encodes one at a time (Llama 3's regex, via PCRE2).
#pragma once
#include <memory>
#include <string_view>
#include <vector>

namespace bitnet {

// The pre-tokenizer pattern of Llama 3 and BitNet b1.58 2B-4T, as tokenizer.json spells it.
extern const std::string_view kLlama3PreTokenizerPattern;

class PreTokenizer {
 public:
  // Compiles the Llama 3 pattern (JIT when PCRE2 has it). Throws Error if PCRE2 rejects it.
  PreTokenizer();
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Appends the pieces of text, in order; together they are exactly text. Bytes that are not valid
  // UTF-8 never match the pattern, so each run of them becomes a piece of its own (byte-level BPE can
  // still encode it). Safe to call from several threads at once.
  void Split(std::string_view text, std::vector<std::string_view>& pieces) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace bitnet
