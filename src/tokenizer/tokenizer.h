// Llama 3 byte-level BPE tokenizer (BitNet b1.58 2B-4T), loaded from tokenizer.json or a GGUF vocabulary.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bitnet {

struct TokenizerData;

// GGUF tokenizer.ggml.token_type values that this tokenizer distinguishes.
enum TokenType : int32_t {
  kTokenNormal = 1,
  kTokenControl = 3,      // special tokens: matched in text only with parse_special
  kTokenUserDefined = 4,  // added non-special tokens: always matched in text
};

// Immutable once built; copies share the same data, and every method is safe to call from several
// threads at once.
class Tokenizer {
 public:
  // Hugging Face tokenizer.json (byte-level BPE, model.vocab, model.merges, added_tokens,
  // model.ignore_merges). Throws Error naming the file and the field on bad input.
  static Tokenizer FromJsonFile(const std::string& path);
  // GGUF form: tokenizer.ggml.tokens (byte-level strings like "Ġthe"), tokenizer.ggml.merges ("Ġ t"),
  // tokenizer.ggml.token_type (1 normal, 3 control, 4 user-defined, ...; empty means all normal).
  // Control and user-defined tokens are the added tokens. GGUF does not record ignore_merges; it is
  // taken as true, as for every Llama 3 vocabulary (the only pre-tokenizer this class implements).
  static Tokenizer FromVocab(std::vector<std::string> tokens, std::vector<std::string> merges,
                             std::vector<int32_t> token_types, const std::string& source_name);

  // Text -> ids. No BOS is added. With parse_special=false, control-token text such as "<|eot_id|>" is
  // encoded as ordinary text; with true, exact special-token strings become their ids. User-defined
  // tokens are matched either way. Bytes that are not valid UTF-8 are encoded byte by byte.
  std::vector<int32_t> Encode(std::string_view text, bool parse_special = false) const;
  // Exact byte inverse (special tokens decode to their text). Throws Error for ids out of range.
  std::string Decode(std::span<const int32_t> ids) const;
  // Raw bytes of one token (for streaming). Throws Error for an id out of range.
  std::string TokenBytes(int32_t id) const;

  int32_t vocab_size() const;  // 128256 for the real file
  bool IsSpecial(int32_t id) const;  // control tokens; false for ids out of range
  // The id of the added (control or user-defined) token spelled exactly `text`.
  std::optional<int32_t> SpecialId(std::string_view text) const;
  // -1 when the vocabulary lacks the token.
  int32_t bos_id() const;  // <|begin_of_text|> 128000
  int32_t eos_id() const;  // <|end_of_text|> 128001
  int32_t eot_id() const;  // <|eot_id|> 128009

  // The vocabulary in GGUF form, for writing a GGUF file: FromVocab(tokens(), merges(), token_types())
  // encodes identically.
  const std::vector<std::string>& tokens() const;
  const std::vector<std::string>& merges() const;
  const std::vector<int32_t>& token_types() const;
  bool ignore_merges() const;

 private:
  explicit Tokenizer(std::shared_ptr<const TokenizerData> data);
  static Tokenizer Build(std::vector<std::string> tokens, std::vector<std::string> merges,
                         std::vector<int32_t> token_types, bool ignore_merges, const std::string& source_name,
                         const std::string& tokens_field, const std::string& merges_field);
  std::shared_ptr<const TokenizerData> data_;
};

// Streaming output: feed token bytes, get back only complete UTF-8 characters, so a write never
// splits a character.
class Utf8StreamDecoder {
 public:
  // Returns everything pending except a trailing incomplete character that later bytes could still
  // complete. Bytes that can never form a character are returned as they are rather than held.
  std::string Push(std::string_view bytes);
  // Whatever is left (an unfinished character is passed through as-is).
  std::string Flush();

 private:
  std::string pending_;
};

}  // namespace bitnet
