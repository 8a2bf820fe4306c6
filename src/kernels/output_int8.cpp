#include "kernels/output_int8.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/dispatch.h"
#include "kernels/dispatch_fill.h"

namespace bitnet {

// output_int8_avx512.cpp, compiled with AVX-512 flags; a scalar stand-in
// where the compiler lacks them (the dispatch never hands it out there).
void MatVecInt8RowsVnni(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq, float inv_a,
                        float* y);
void MatMulInt8RowsVnni(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq,
                        const float* inv_a, int n, float* const* y);

namespace {

inline const int8_t* RowOf(const DenseMatrixView& m, int64_t r) { return static_cast<const int8_t*>(m.data) + r * m.cols; }

// Every variant ends with this expression, so equal int32 dots give equal floats.
inline float Finish(int32_t dot, float row_scale, float inv_a) { return static_cast<float>(dot) * row_scale * inv_a; }

#if defined(__x86_64__)

[[gnu::target("avx2")]] inline int32_t HorizontalSumI32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// maddubs wants u8 x s8: |x| x sign(q, x) has the same products, and with
// |x|, |q| <= 127 a pair sum stays below 2 * 127^2 = 32258, so the i16 stage
// never saturates.
[[gnu::target("avx2")]] void MatVecAvx2(const DenseMatrixView& m, int64_t row_begin, int64_t row_end,
                                        const int8_t* xq, float inv_a, float* y) {
  const int64_t n = m.cols;
  const int64_t n32 = n / 32 * 32;
  const __m256i ones = _mm256_set1_epi16(1);
  constexpr int kRows = 4;
  int64_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows) {
    const int8_t* p[kRows] = {RowOf(m, r), RowOf(m, r + 1), RowOf(m, r + 2), RowOf(m, r + 3)};
    __m256i acc[kRows] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int64_t c = 0; c < n32; c += 32) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + c));
      const __m256i ax = _mm256_abs_epi8(x);
      for (int i = 0; i < kRows; ++i) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p[i] + c));
        const __m256i pairs = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(q, x));
        acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(pairs, ones));
      }
    }
    for (int i = 0; i < kRows; ++i) {
      int32_t dot = HorizontalSumI32(acc[i]);
      for (int64_t c = n32; c < n; ++c) dot += p[i][c] * xq[c];
      y[r + i - row_begin] = Finish(dot, m.row_scales[r + i], inv_a);
    }
  }
  if (r < row_end) MatVecInt8RowsScalar(m, r, row_end, xq, inv_a, y + (r - row_begin));
}

// The avx512vnni entry: vpdpbusd needs the row sums; without them, AVX2.
void MatVecVnniOrAvx2(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq, float inv_a,
                      float* y) {
  if (m.row_sums != nullptr) return MatVecInt8RowsVnni(m, row_begin, row_end, xq, inv_a, y);
  MatVecAvx2(m, row_begin, row_end, xq, inv_a, y);
}

void MatMulVnniOrAvx2(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq,
                      const float* inv_a, int n, float* const* y) {
  if (m.row_sums != nullptr) return MatMulInt8RowsVnni(m, row_begin, row_end, xq, inv_a, n, y);
  dispatch_fill::Int8RowsPerToken<MatVecAvx2>(m, row_begin, row_end, xq, inv_a, n, y);
}

#endif

}  // namespace

void Int8RowSums(const int8_t* q, int64_t rows, int64_t cols, int32_t* sums) {
  for (int64_t r = 0; r < rows; ++r) {
    int32_t s = 0;
    for (int64_t c = 0; c < cols; ++c) s += q[r * cols + c];
    sums[r] = s;
  }
}

void MatVecInt8RowsScalar(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq,
                          float inv_a, float* y) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int8_t* p = RowOf(m, r);
    int32_t dot = 0;
    for (int64_t c = 0; c < m.cols; ++c) dot += p[c] * xq[c];
    y[r - row_begin] = Finish(dot, m.row_scales[r], inv_a);
  }
}

namespace dispatch_fill {

void AddScalarOutputInt8(KernelTable& t) {
  t.mat_vec_int8_rows = {MatVecInt8RowsScalar, KernelIsa::kScalar};
  t.mat_mul_int8_rows = {Int8RowsPerToken<MatVecInt8RowsScalar>, KernelIsa::kScalar};
}

#if defined(__x86_64__)
void AddAvx2OutputInt8(KernelTable& t) {
  t.mat_vec_int8_rows = {MatVecAvx2, KernelIsa::kAvx2};
  t.mat_mul_int8_rows = {Int8RowsPerToken<MatVecAvx2>, KernelIsa::kAvx2};
}
void AddAvx512VnniOutputInt8(KernelTable& t) {
  t.mat_vec_int8_rows = {MatVecVnniOrAvx2, KernelIsa::kAvx512Vnni};
  t.mat_mul_int8_rows = {MatMulVnniOrAvx2, KernelIsa::kAvx512Vnni};
}
#endif

}  // namespace dispatch_fill

void MatVecInt8Rows(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq, float inv_a,
                    float* y) {
  ActiveKernels().mat_vec_int8_rows.fn(m, row_begin, row_end, xq, inv_a, y);
}

void MatMulInt8Rows(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq,
                    const float* inv_a, int n, float* const* y) {
  ActiveKernels().mat_mul_int8_rows.fn(m, row_begin, row_end, xq, inv_a, n, y);
}

const char* MatVecInt8RowsVariant(const DenseMatrixView& m) {
  const KernelIsa isa = ActiveKernels().mat_vec_int8_rows.isa;
  if (isa == KernelIsa::kAvx512Vnni && m.row_sums == nullptr) return IsaName(KernelIsa::kAvx2);
  return IsaName(isa);
}

}  // namespace bitnet
