// The one packed layout for ternary weights that every CPU kernel reads.
//
// Rows are independent. Each row's columns are padded with zeros to a multiple
// of 128 and stored as 128-weight blocks of 32 bytes. Byte b of a block holds
// the codes of weights b, b+32, b+64 and b+96 in bits 7-6, 5-4, 3-2 and 1-0,
// and a code is u = w + 1 in {0, 1, 2}. Shifting a 32-byte block right by
// 6/4/2/0 and masking with 3 yields four runs of 32 consecutive weights, which
// is what a 256-bit SIMD lane wants; it is also bitnet.cpp's I2_S block layout,
// so I2_S rows load without repacking.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bitnet {

inline constexpr int64_t kTernaryBlock = 128;  // weights per block
inline constexpr int64_t kTernaryBlockBytes = kTernaryBlock / 4;

inline int64_t TernaryPaddedCols(int64_t cols) {
  return (cols + kTernaryBlock - 1) / kTernaryBlock * kTernaryBlock;
}

// A read-only view of a packed matrix [rows][cols].
struct TernaryMatrixView {
  int64_t rows = 0;
  int64_t cols = 0;         // logical columns
  int64_t cols_padded = 0;  // TernaryPaddedCols(cols)
  const uint8_t* codes = nullptr;  // rows * cols_padded / 4 bytes

  int64_t row_bytes() const { return cols_padded / 4; }
  size_t size_bytes() const { return static_cast<size_t>(rows * row_bytes()); }
  const uint8_t* row(int64_t r) const { return codes + r * row_bytes(); }
};

// Packs w (row-major [rows][cols], values in {-1, 0, 1}) into the layout above.
// Padding columns get code 1 (weight 0).
std::vector<uint8_t> PackTernaryRows(const int8_t* w, int64_t rows, int64_t cols);

// Inverse of PackTernaryRows: writes [rows][cols] values in {-1, 0, 1}.
// Code 3 is never written; loaders reject it with ValidateTernaryCodes.
void UnpackTernaryRows(const TernaryMatrixView& m, int8_t* w);

// Weight of row r, column c.
inline int8_t TernaryAt(const TernaryMatrixView& m, int64_t r, int64_t c) {
  const uint8_t byte = m.row(r)[(c / kTernaryBlock) * kTernaryBlockBytes + (c % 32)];
  const int shift = 6 - 2 * static_cast<int>((c % kTernaryBlock) / 32);
  return static_cast<int8_t>(((byte >> shift) & 3) - 1);
}

// True when no code is 3 (which has no ternary meaning).
bool ValidateTernaryCodes(const TernaryMatrixView& m);

}  // namespace bitnet
