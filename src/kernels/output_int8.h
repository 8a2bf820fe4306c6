// The int8-per-row output matrix times an int8-quantized hidden vector: the
// biggest read of a decode step at a quarter of f32's bytes and half of
// bf16's, with an integer dot so the pass stays bound by memory, not by
// int8 -> float widening.
//
// logits[r] = (sum_c q[r][c] * xq[c]) * row_scales[r] / a, where xq and a come
// from QuantizeActivationsInt8 (quantize.h) on the final normed hidden vector.
// The int32 dot is exact, so every SIMD variant is bit-exact with the scalar one.
#pragma once
#include <cstdint>

#include "kernels/dense.h"

namespace bitnet {

// sums[r] = sum_c q[r][c] for rows [0, rows): the correction that lets a
// u8 x s8 dot (vpdpbusd) take activations offset by +128.
void Int8RowSums(const int8_t* q, int64_t rows, int64_t cols, int32_t* sums);

// For m of type kI8Row: y[r - row_begin] = dot(q[r], xq) * row_scales[r] * inv_a
// for r in [row_begin, row_end). xq holds m.cols values in [-127, 127] (the
// absmax quantizer never produces -128 from a finite vector). Uses m.row_sums
// when present (AVX-512 VNNI), the sign trick of AVX2 otherwise.
void MatVecInt8Rows(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq, float inv_a,
                    float* y);

// MatVecInt8Rows for n tokens at once (a batched decode step's logits):
// y[t][r] = dot(q[r], xq[t]) * row_scales[r] * inv_a[t] for r in
// [row_begin, row_end) and t < n, with xq [n][m.cols]. Indexing y[t] by the
// absolute row lets each token's logits live in its own buffer. Bit-exact
// with MatVecInt8Rows per token; the avx512vnni variant reads each row once
// for up to eight tokens, the others run the one-token kernel per token over
// the range (the caller keeps it small enough to stay in cache).
void MatMulInt8Rows(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq,
                    const float* inv_a, int n, float* const* y);

// The scalar oracle of MatVecInt8Rows, for tests.
void MatVecInt8RowsScalar(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq,
                          float inv_a, float* y);

// Which variant MatVecInt8Rows runs here for m: "avx512vnni", "avx2", "neon" or "scalar".
// It follows the one kernel table (dispatch.h), like every kernel.
const char* MatVecInt8RowsVariant(const DenseMatrixView& m);

}  // namespace bitnet
