// The AVX-512 VNNI variant of MatVecInt8Rows (output_int8.h). Compiled with
// AVX-512 flags (CMakeLists.txt); output_int8.cpp calls it only after the
// W2A8 dispatch has found a VNNI CPU.
#include "kernels/output_int8.h"

#include "kernels/dispatch_fill.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// GCC 12's _mm512_reduce_add_epi32 trips -Wmaybe-uninitialized inside its
// own header (as in w2a8_avx512.cpp); the value is never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/avx512_reduce.h"

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

namespace {

// Rows [r, r + kRows) for tokens [0, kTokens) of xu (activations already
// offset to u8, rows of stride bytes, zero past m.cols): each weight load
// serves every token of the tile.
template <int kRows, int kTokens>
void Int8RowsTile(const DenseMatrixView& m, int64_t r, const uint8_t* xu, int64_t stride, const float* inv_a,
                  float* const* y) {
  const int64_t n = m.cols;
  const int64_t n64 = n / 64 * 64;
  const __mmask64 tail = n == n64 ? 0 : (~0ull >> (64 - (n - n64)));
  __m512i acc[kRows][kTokens];
  for (int i = 0; i < kRows; ++i)
    for (int t = 0; t < kTokens; ++t) acc[i][t] = _mm512_setzero_si512();
  auto chunk = [&](int64_t c, __mmask64 mask) {
    // The same columns of the rows two tiles on: with every token of a step
    // in the tile, the hardware prefetcher alone left the pass at ~half the
    // memory rate.
    for (int i = 0; i < kRows; ++i)
      _mm_prefetch(reinterpret_cast<const char*>(RowOf(m, r + 2 * kRows + i) + c), _MM_HINT_T0);
    __m512i q[kRows];
    for (int i = 0; i < kRows; ++i) q[i] = _mm512_maskz_loadu_epi8(mask, RowOf(m, r + i) + c);
    for (int t = 0; t < kTokens; ++t) {
      const __m512i xv = _mm512_loadu_si512(xu + t * stride + c);
      for (int i = 0; i < kRows; ++i) acc[i][t] = _mm512_dpbusd_epi32(acc[i][t], xv, q[i]);
    }
  };
  for (int64_t c = 0; c < n64; c += 64) chunk(c, ~__mmask64{0});
  if (tail != 0) chunk(n64, tail);
  // Per token the row sums of the tile together, then Finish on the vector:
  // the same float operations in the same order as the scalar Finish.
  for (int i0 = 0; i0 < kRows; i0 += 4) {
    const __mmask8 lanes = RowLanes(kRows, i0);
    const __m128i offset = _mm_slli_epi32(_mm_maskz_loadu_epi32(lanes, m.row_sums + r + i0), 7);  // 128 sum q
    const __m128 scales = _mm_maskz_loadu_ps(lanes, m.row_scales + r + i0);
    for (int t = 0; t < kTokens; ++t) {
      const __m128i dots = _mm_sub_epi32(Reduce4Rows<kRows>(acc, i0, t), offset);
      _mm_mask_storeu_ps(y[t] + r + i0, lanes, _mm_mul_ps(_mm_mul_ps(_mm_cvtepi32_ps(dots), scales), _mm_set1_ps(inv_a[t])));
    }
  }
}

// A batched decode step has up to 8 sequences; one tile takes them all, so
// each weight is loaded once per step.
constexpr int kTileTokens = 8;

// The most rows (up to 4) whose kRows * kTokens accumulators, kRows weight
// vectors and one activation vector fit the 32 zmm registers.
template <int kTokens>
constexpr int TileRows() {
  return std::min(4, (32 - 1) / (kTokens + 1));
}

template <int kTokens>
void Int8RowsRange(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const uint8_t* xu, int64_t stride,
                   const float* inv_a, float* const* y) {
  constexpr int kRows = TileRows<kTokens>();
  int64_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows) Int8RowsTile<kRows, kTokens>(m, r, xu, stride, inv_a, y);
  for (; r < row_end; ++r) Int8RowsTile<1, kTokens>(m, r, xu, stride, inv_a, y);
}

using Int8RangeFn = void (*)(const DenseMatrixView&, int64_t, int64_t, const uint8_t*, int64_t, const float*,
                             float* const*);
constexpr Int8RangeFn kRanges[kTileTokens] = {Int8RowsRange<1>, Int8RowsRange<2>, Int8RowsRange<3>, Int8RowsRange<4>,
                                              Int8RowsRange<5>, Int8RowsRange<6>, Int8RowsRange<7>, Int8RowsRange<8>};

}  // namespace

void MatMulInt8RowsVnni(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq,
                        const float* inv_a, int n, float* const* y) {
  // The +128 offset once per call instead of once per row tile; the stride
  // rounds up to whole vectors, and the padding meets masked-off weights.
  const int64_t stride = (m.cols + 63) / 64 * 64;
  // This runs once per 512-row slice of a step, so it is vectorized (as a
  // scalar byte loop it was ~2% of a batched decode step).
  thread_local std::vector<uint8_t> xu;
  xu.resize(static_cast<size_t>(stride * n));
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int t = 0; t < n; ++t)
    for (int64_t c = 0; c < stride; c += 64) {
      const int64_t left = m.cols - c;  // > 0 up to the last vector; the padding past m.cols is zero
      const __mmask64 live = left >= 64 ? ~__mmask64{0} : (left > 0 ? ~0ull >> (64 - left) : 0);
      const __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(live, xq + t * m.cols + c), flip);
      _mm512_storeu_si512(xu.data() + t * stride + c, _mm512_maskz_mov_epi8(live, v));
    }
  // More than eight tokens (logits of every position of a prompt): groups of
  // eight over the caller's cache-sized range of rows.
  for (int t0 = 0; t0 < n; t0 += kTileTokens) {
    const int tokens = std::min(kTileTokens, n - t0);
    kRanges[tokens - 1](m, row_begin, row_end, xu.data() + t0 * stride, stride, inv_a + t0, y + t0);
  }
}

}  // namespace bitnet

#pragma GCC diagnostic pop

#else

namespace bitnet {
void MatMulInt8RowsVnni(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq,
                        const float* inv_a, int n, float* const* y) {
  dispatch_fill::Int8RowsPerToken<MatVecInt8RowsScalar>(m, row_begin, row_end, xq, inv_a, n, y);
}
void MatVecInt8RowsVnni(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq, float inv_a,
                        float* y) {
  MatVecInt8RowsScalar(m, row_begin, row_end, xq, inv_a, y);
}
}  // namespace bitnet

#endif
