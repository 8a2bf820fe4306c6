// Internal to the kernels library: each kernel file puts its variants into a
// KernelTable (dispatch.cpp builds the tables). The x86 Add*Avx2 functions
// exist only on x86 builds, AddNeon* only on aarch64 ones; dispatch.cpp calls
// them only after checking the CPU.
#pragma once
#include "kernels/dispatch.h"

namespace bitnet::dispatch_fill {

// A mat_mul_int8_rows entry from a one-token kernel: run it once per token
// over the range (the caller keeps the range cache-sized, so every token after
// the first reads the rows from cache).
template <MatVecInt8RowsFn* kOneToken>
void Int8RowsPerToken(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq,
                      const float* inv_a, int n, float* const* y) {
  for (int t = 0; t < n; ++t) kOneToken(m, row_begin, row_end, xq + t * m.cols, inv_a[t], y[t] + row_begin);
}

void AddScalarOps(KernelTable& t);
void AddScalarQuantize(KernelTable& t);
void AddScalarAttention(KernelTable& t);
void AddScalarDense(KernelTable& t);
void AddScalarOutputInt8(KernelTable& t);

#if defined(__x86_64__)
void AddAvx2Ops(KernelTable& t);
void AddAvx2Quantize(KernelTable& t);
void AddAvx2Attention(KernelTable& t);
void AddAvx2Dense(KernelTable& t);
void AddAvx2OutputInt8(KernelTable& t);
void AddAvx512VnniOutputInt8(KernelTable& t);
#endif

#if defined(__aarch64__)
void AddNeonOps(KernelTable& t);  // and the quantizer
void AddNeonOutputInt8(KernelTable& t);
#endif

}  // namespace bitnet::dispatch_fill
