// The AVX-512 VNNI variant of MatVecInt8Rows (output_int8.h). Compiled with
// AVX-512 flags (CMakeLists.txt); output_int8.cpp calls it only after the
// W2A8 dispatch has found a VNNI CPU.
#include "kernels/output_int8.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// GCC 12's _mm512_reduce_add_epi32 trips -Wmaybe-uninitialized inside its
// own header (as in w2a8_avx512.cpp); the value is never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

namespace bitnet {
namespace {

inline const int8_t* RowOf(const DenseMatrixView& m, int64_t r) { return static_cast<const int8_t*>(m.data) + r * m.cols; }
inline float Finish(int32_t dot, float row_scale, float inv_a) { return static_cast<float>(dot) * row_scale * inv_a; }

}  // namespace

// u8 x s8 with the activations offset by +128 (xor 0x80 turns s8 into that
// u8): sum (x + 128) q = sum x q + 128 sum q, and sum q is precomputed, so the
// inner loop is one load, one xor shared by four rows, and one vpdpbusd per row.
void MatVecInt8RowsVnni(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq, float inv_a,
                        float* y) {
  const int64_t n = m.cols;
  const int64_t n64 = n / 64 * 64;
  const __mmask64 tail = n == n64 ? 0 : (~0ull >> (64 - (n - n64)));
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  int64_t r = row_begin;
  constexpr int kRows = 4;
  for (; r + kRows <= row_end; r += kRows) {
    const int8_t* p[kRows] = {RowOf(m, r), RowOf(m, r + 1), RowOf(m, r + 2), RowOf(m, r + 3)};
    __m512i acc[kRows] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int64_t c = 0; c < n64; c += 64) {
      const __m512i xu = _mm512_xor_si512(_mm512_loadu_si512(xq + c), flip);
      for (int i = 0; i < kRows; ++i) {
        _mm_prefetch(reinterpret_cast<const char*>(p[i] + c + kRows * n), _MM_HINT_T0);
        acc[i] = _mm512_dpbusd_epi32(acc[i], xu, _mm512_loadu_si512(p[i] + c));
      }
    }
    if (tail != 0) {
      const __m512i xu = _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, xq + n64), flip);
      for (int i = 0; i < kRows; ++i)
        acc[i] = _mm512_dpbusd_epi32(acc[i], xu, _mm512_maskz_loadu_epi8(tail, p[i] + n64));
    }
    for (int i = 0; i < kRows; ++i)
      y[r + i - row_begin] =
          Finish(_mm512_reduce_add_epi32(acc[i]) - 128 * m.row_sums[r + i], m.row_scales[r + i], inv_a);
  }
  for (; r < row_end; ++r) {
    const int8_t* p = RowOf(m, r);
    __m512i acc = _mm512_setzero_si512();
    for (int64_t c = 0; c < n64; c += 64)
      acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(_mm512_loadu_si512(xq + c), flip), _mm512_loadu_si512(p + c));
    if (tail != 0)
      acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, xq + n64), flip),
                                _mm512_maskz_loadu_epi8(tail, p + n64));
    y[r - row_begin] = Finish(_mm512_reduce_add_epi32(acc) - 128 * m.row_sums[r], m.row_scales[r], inv_a);
  }
}

}  // namespace bitnet

#pragma GCC diagnostic pop

#else

namespace bitnet {
void MatVecInt8RowsVnni(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq, float inv_a,
                        float* y) {
  MatVecInt8RowsScalar(m, row_begin, row_end, xq, inv_a, y);
}
}  // namespace bitnet

#endif
