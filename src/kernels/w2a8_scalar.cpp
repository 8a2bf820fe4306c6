// The scalar W2A8 reference: the oracle every SIMD variant is tested against.
#include "kernels/w2a8.h"

namespace bitnet {
namespace {

// sum_k u[k] * x[k] over one packed row, u = code in {0,1,2}.
int32_t RowDotCodes(const uint8_t* row, int64_t cols_padded, const int8_t* x) {
  int32_t acc = 0;
  for (int64_t blk = 0; blk < cols_padded / kTernaryBlock; ++blk) {
    const uint8_t* bytes = row + blk * kTernaryBlockBytes;
    const int8_t* xb = x + blk * kTernaryBlock;
    for (int b = 0; b < 32; ++b) {
      const int byte = bytes[b];
      acc += ((byte >> 6) & 3) * xb[b] + ((byte >> 4) & 3) * xb[b + 32] +
             ((byte >> 2) & 3) * xb[b + 64] + (byte & 3) * xb[b + 96];
    }
  }
  return acc;
}

void MatVecScalar(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end,
                  const int8_t* x, int32_t x_sum, int32_t* y) {
  for (int64_t r = row_begin; r < row_end; ++r)
    y[r - row_begin] = RowDotCodes(w.row(r), w.cols_padded, x) - x_sum;
}

void MatMulScalar(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end,
                  const int8_t* x, const int32_t* x_sums, int n, int32_t* y, int64_t y_stride) {
  for (int t = 0; t < n; ++t)
    for (int64_t r = row_begin; r < row_end; ++r)
      y[t * y_stride + r] = RowDotCodes(w.row(r), w.cols_padded, x + t * w.cols_padded) - x_sums[t];
}

}  // namespace

const W2A8Kernels& ScalarW2A8Kernels() {
  static const W2A8Kernels kernels{KernelIsa::kScalar, "scalar", MatVecScalar, MatMulScalar};
  return kernels;
}

}  // namespace bitnet
