#include "tokenizer/byte_unicode.h"

#include <array>

namespace bitnet {
namespace {

struct ByteUnicodeTables {
  std::array<char32_t, 256> code_point{};
  std::array<std::string, 256> utf8;
  // Every spelling lies below U+0144, so a flat table inverts it.
  static constexpr char32_t kMaxCodePoint = 0x144;
  std::array<int16_t, kMaxCodePoint> byte_of{};

  ByteUnicodeTables() {
    byte_of.fill(-1);
    // Printable Latin-1 bytes spell themselves; the rest (controls, space, 0x7F-0xA0, 0xAD) take
    // code points from U+0100 upward in byte order, as in GPT-2's bytes_to_unicode().
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next_extra = 0x100;
    for (int b = 0; b < 256; ++b) {
      char32_t cp = printable(b) ? static_cast<char32_t>(b) : next_extra++;
      code_point[b] = cp;
      byte_of[cp] = static_cast<int16_t>(b);
      std::string s;
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      utf8[b] = std::move(s);
    }
  }
};

const ByteUnicodeTables& Tables() {
  static const ByteUnicodeTables tables;
  return tables;
}

}  // namespace

char32_t ByteToCodePoint(uint8_t b) { return Tables().code_point[b]; }

const std::string& ByteToUnicodeUtf8(uint8_t b) { return Tables().utf8[b]; }

std::string BytesToByteLevel(std::string_view bytes) {
  const auto& t = Tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += t.utf8[static_cast<uint8_t>(c)];
  return out;
}

std::optional<std::string> ByteLevelToBytes(std::string_view byte_level) {
  const auto& t = Tables();
  std::string out;
  out.reserve(byte_level.size());
  size_t i = 0;
  while (i < byte_level.size()) {
    auto c0 = static_cast<uint8_t>(byte_level[i]);
    char32_t cp;
    // Only one- and two-byte UTF-8 can spell a byte (all spellings are below U+0800).
    if (c0 < 0x80) {
      cp = c0;
      i += 1;
    } else if ((c0 & 0xE0) == 0xC0 && i + 1 < byte_level.size() &&
               (static_cast<uint8_t>(byte_level[i + 1]) & 0xC0) == 0x80) {
      cp = (static_cast<char32_t>(c0 & 0x1F) << 6) | (static_cast<uint8_t>(byte_level[i + 1]) & 0x3F);
      i += 2;
      if (cp < 0x80) return std::nullopt;  // overlong form
    } else {
      return std::nullopt;
    }
    if (cp >= ByteUnicodeTables::kMaxCodePoint || t.byte_of[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(t.byte_of[cp]));
  }
  return out;
}

}  // namespace bitnet
