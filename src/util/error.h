// One error type for every layer: a message that names the file and the field.
#pragma once
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace bitnet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error("<where>: <what>") when cond is false.
inline void Check(bool cond, const std::string& where, const std::string& what) {
  if (!cond) throw Error(where + ": " + what);
}

// A name or string taken from an untrusted file, made safe to print in an
// error message: control bytes and DEL become \xNN (so a crafted tensor name
// cannot rewrite the terminal or forge extra log lines) and anything past
// max_bytes (64 unless told) is cut with "..." (so a megabyte-long key does
// not flood the log). The cut never splits a UTF-8 sequence.
inline std::string Printable(std::string_view s, size_t max_bytes = 64) {
  size_t n = s.size();
  const bool cut = n > max_bytes;
  if (cut) {
    n = max_bytes;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // s[n] continues a sequence
  }
  std::string out;
  out.reserve(n + 8);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (cut) out += "...";
  return out;
}

}  // namespace bitnet
