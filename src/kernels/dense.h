// Dense float-valued matrices: the embedding table, which is also the tied
// output projection. Rows are contiguous.
#pragma once
#include <cstdint>

namespace bitnet {

enum class DenseType {
  kF32,
  kBf16,
  kF16,
  kI8Row,  // int8 values with one float scale per row: value = q * row_scales[r]
};

const char* DenseTypeName(DenseType t);

struct DenseMatrixView {
  DenseType type = DenseType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;
  const float* row_scales = nullptr;  // kI8Row only

  int64_t bytes_per_element() const { return type == DenseType::kF32 ? 4 : type == DenseType::kI8Row ? 1 : 2; }
};

// out[c] = M[r][c] as float.
void DenseRow(const DenseMatrixView& m, int64_t r, float* out);

// y[r - row_begin] = sum_c M[r][c] * x[c] for r in [row_begin, row_end),
// accumulated in float.
void MatVecDense(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const float* x, float* y);

}  // namespace bitnet
