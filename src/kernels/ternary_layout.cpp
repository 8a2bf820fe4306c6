#include "kernels/ternary_layout.h"

namespace bitnet {

std::vector<uint8_t> PackTernaryRows(const int8_t* w, int64_t rows, int64_t cols) {
  const int64_t padded = TernaryPaddedCols(cols);
  const int64_t row_bytes = padded / 4;
  std::vector<uint8_t> out(static_cast<size_t>(rows * row_bytes), 0);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* dst = out.data() + r * row_bytes;
    for (int64_t c = 0; c < padded; ++c) {
      const int code = c < cols ? w[r * cols + c] + 1 : 1;
      const int shift = 6 - 2 * static_cast<int>((c % kTernaryBlock) / 32);
      dst[(c / kTernaryBlock) * kTernaryBlockBytes + (c % 32)] |= static_cast<uint8_t>(code << shift);
    }
  }
  return out;
}

void UnpackTernaryRows(const TernaryMatrixView& m, int8_t* w) {
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t c = 0; c < m.cols; ++c) w[r * m.cols + c] = TernaryAt(m, r, c);
}

bool ValidateTernaryCodes(const TernaryMatrixView& m) {
  const size_t n = m.size_bytes();
  for (size_t i = 0; i < n; ++i) {
    const uint8_t b = m.codes[i];
    // A 2-bit field equals 3 iff both its bits are set.
    if ((b & (b >> 1) & 0x55u) != 0) return false;
  }
  return true;
}

}  // namespace bitnet
