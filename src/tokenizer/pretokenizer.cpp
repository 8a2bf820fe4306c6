#include "tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>

#include "util/error.h"

namespace bitnet {

const std::string_view kLlama3PreTokenizerPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

namespace {

// Hugging Face runs the pattern with Oniguruma, whose \s is Unicode White_Space. PCRE2's \s (with
// UCP) also takes U+180E MONGOLIAN VOWEL SEPARATOR, which would split text differently, so \s and
// \S are spelled out as White_Space before compiling.
constexpr std::string_view kWhiteSpace =
    R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

std::string WithExplicitWhiteSpace(std::string_view pattern) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char e = pattern[i + 1];
      ++i;
      if (e == 's') {
        if (in_class) {
          out += kWhiteSpace;
        } else {
          out += '[';
          out += kWhiteSpace;
          out += ']';
        }
      } else if (e == 'S' && !in_class) {
        out += "[^";
        out += kWhiteSpace;
        out += ']';
      } else if (e == 'S') {
        throw Error("pre-tokenizer pattern: \\S inside a character class is not supported");
      } else {
        out += '\\';
        out += e;
      }
      continue;
    }
    // The pattern has no nested or bracket-literal classes, so a flag suffices.
    if (c == '[') in_class = true;
    if (c == ']') in_class = false;
    out += c;
  }
  return out;
}

}  // namespace

struct PreTokenizer::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer() : compiled_(std::make_unique<Compiled>()) {
  const std::string pattern = WithExplicitWhiteSpace(kLlama3PreTokenizerPattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                  PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error_code,
                                  &error_offset, nullptr);
  if (compiled_->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    throw Error("pre-tokenizer pattern: PCRE2 compile error at offset " + std::to_string(error_offset) +
                ": " + reinterpret_cast<const char*>(message));
  }
  // Without JIT the interpreter gives the same matches, only slower, so a JIT failure is not an error.
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

void PreTokenizer::Split(std::string_view text, std::vector<std::string_view>& pieces) const {
  if (text.empty()) return;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), &pcre2_match_data_free);
  if (!match) throw Error("pre-tokenizer: out of memory for PCRE2 match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset < text.size()) {
    int rc = pcre2_match(compiled_->code, subject, text.size(), offset, 0, match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      throw Error("pre-tokenizer: PCRE2 match error: " + std::string(reinterpret_cast<const char*>(message)));
    }
    const PCRE2_SIZE* span = pcre2_get_ovector_pointer(match.get());
    const size_t start = span[0], end = span[1];
    if (start > offset) pieces.push_back(text.substr(offset, start - offset));
    if (end == start) {
      // Every alternative consumes a character; guard anyway so a changed pattern cannot loop forever.
      pieces.push_back(text.substr(start, 1));
      offset = start + 1;
      continue;
    }
    pieces.push_back(text.substr(start, end - start));
    offset = end;
  }
  if (offset < text.size()) pieces.push_back(text.substr(offset));
}

}  // namespace bitnet
