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
  const int32_t* row_sums = nullptr;  // kI8Row, optional: sum_c q[r][c] (output_int8.h)

  // A float matrix may carry its int8-per-row form precomputed (a converted
  // file stores it), so choosing int8 at load is a pointer swap, not a pass.
  const int8_t* int8_data = nullptr;
  const float* int8_scales = nullptr;
  const int32_t* int8_sums = nullptr;

  int64_t bytes_per_element() const { return type == DenseType::kF32 ? 4 : type == DenseType::kI8Row ? 1 : 2; }
};

// out[c] = M[r][c] as float.
void DenseRow(const DenseMatrixView& m, int64_t r, float* out);

// y[r - row_begin] = sum_c M[r][c] * x[c] for r in [row_begin, row_end),
// accumulated in float. On AVX2 CPUs the sum runs in 8-lane partial sums
// (a different order from the scalar loop), so results agree with a
// double-precision dot product to about 1e-6 * sum_c |M[r][c] * x[c]|,
// not bit for bit.
void MatVecDense(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const float* x, float* y);

// The int8-per-row form of any dense matrix: per row, scale = max|M[r][c]| / 127
// (0 for an all-zero row) and q[r][c] = round_half_to_even(M[r][c] / scale),
// which lies in [-127, 127]. q holds rows * cols bytes, row_scales rows floats;
// together they make a kI8Row view (half the bytes of bf16 for the output
// matrix, the biggest read of a decode step).
void QuantizeDenseRowsInt8(const DenseMatrixView& src, int8_t* q, float* row_scales);

}  // namespace bitnet
