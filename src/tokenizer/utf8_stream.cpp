// Utf8StreamDecoder: holds back only a trailing character that is still incomplete.
#include <cstdint>

#include "tokenizer/tokenizer.h"

namespace bitnet {
namespace {

// Length of the character a lead byte starts, or 0 when the byte cannot start one.
size_t SequenceLength(uint8_t lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// The range of the byte after a lead, which rules out overlong forms, surrogates and > U+10FFFF.
bool ValidSecondByte(uint8_t lead, uint8_t second) {
  switch (lead) {
    case 0xE0: return second >= 0xA0 && second <= 0xBF;
    case 0xED: return second >= 0x80 && second <= 0x9F;
    case 0xF0: return second >= 0x90 && second <= 0xBF;
    case 0xF4: return second >= 0x80 && second <= 0x8F;
    default: return second >= 0x80 && second <= 0xBF;
  }
}

bool IsContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// How many trailing bytes of s form the start of a character that more bytes could complete.
size_t IncompleteTailLength(const std::string& s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto byte = static_cast<uint8_t>(s[n - back]);
    if (IsContinuation(byte)) continue;
    const size_t need = SequenceLength(byte);
    if (need <= back) return 0;  // complete, or not a lead byte at all
    if (back >= 2 && !ValidSecondByte(byte, static_cast<uint8_t>(s[n - back + 1]))) return 0;
    return back;
  }
  return 0;
}

}  // namespace

std::string Utf8StreamDecoder::Push(std::string_view bytes) {
  pending_.append(bytes);
  const size_t hold = IncompleteTailLength(pending_);
  std::string ready = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return ready;
}

std::string Utf8StreamDecoder::Flush() {
  std::string rest;
  rest.swap(pending_);
  return rest;
}

}  // namespace bitnet
