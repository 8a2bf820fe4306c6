// GPT-2's byte <-> unicode mapping: byte-level BPE vocabularies spell every byte as one printable
// code point ("Ġ" is the space byte), so token strings are valid UTF-8 whatever bytes they stand for.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bitnet {

// The code point that spells byte b in a byte-level vocabulary.
char32_t ByteToCodePoint(uint8_t b);

// UTF-8 of ByteToCodePoint(b).
const std::string& ByteToUnicodeUtf8(uint8_t b);

// Raw bytes -> byte-level token spelling ("\x20the" -> "Ġthe").
std::string BytesToByteLevel(std::string_view bytes);

// Byte-level spelling -> raw bytes; nullopt when a character is not one of the 256 byte spellings
// (or the text is not valid UTF-8).
std::optional<std::string> ByteLevelToBytes(std::string_view byte_level);

}  // namespace bitnet
