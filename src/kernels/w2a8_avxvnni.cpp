// AVX-VNNI W2A8 kernels: the AVX2 code layout (w2a8_avx2.cpp: a 32-byte
// block per ymm, run j of block b against x[b*128 + 32j ..]) with the
// VEX-encoded vpdpbusd of CPUs that have AVX-VNNI but not AVX-512 (Intel
// Alder Lake and later laptops and desktops). One instruction multiplies u8
// codes by s8 activations and adds each group of four into i32 lanes, where
// AVX2 needs maddubs, an i16 add and a widening madd, so a batched step or a
// prefill is no longer bound by those. VEX has 16 ymm registers, hence the
// small tiles. Compiled with AVX-VNNI flags (CMakeLists.txt): nothing here may
// run before AvxVnniW2A8Kernels() has checked the CPU.
#include "kernels/w2a8.h"

#include "kernels/cpu_features.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__AVXVNNI__)
#include <immintrin.h>

#include <algorithm>
#include <array>

namespace bitnet {
namespace {

template <int kRun>
inline __m256i CodesOfRun(__m256i bytes, __m256i mask3) {
  return _mm256_and_si256(_mm256_srli_epi16(bytes, 6 - 2 * kRun), mask3);
}

inline __m256i Load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

inline int32_t HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// Rows [r, r + kRows) x tokens [t0, t0 + kTokens) into y[t][r - y_row0]:
// kRows * kTokens accumulators, kRows code vectors, one activation vector and
// the mask within the 16 ymm registers. kPrefetch: request the same block of
// the rows prefetch_rows on, for rows that come from memory.
template <int kRows, int kTokens, bool kPrefetch>
void Tile(const TernaryMatrixView& w, int64_t r, int64_t prefetch_rows, const int8_t* x, const int32_t* x_sums,
          int t0, int32_t* y, int64_t y_stride, int64_t y_row0) {
  const int64_t blocks = w.cols_padded / kTernaryBlock;
  const int64_t row_bytes = w.row_bytes();
  const uint8_t* rows = w.row(r);
  const int8_t* xt = x + t0 * w.cols_padded;
  const __m256i mask3 = _mm256_set1_epi8(3);
  __m256i acc[kRows][kTokens];
  for (int i = 0; i < kRows; ++i)
    for (int t = 0; t < kTokens; ++t) acc[i][t] = _mm256_setzero_si256();
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* pb = rows + b * kTernaryBlockBytes;
    const int8_t* xb = xt + b * kTernaryBlock;
    if constexpr (kPrefetch)
      if (b % 2 == 0)  // a 64-byte line holds two blocks
        for (int i = 0; i < kRows; ++i)
          _mm_prefetch(reinterpret_cast<const char*>(pb + (prefetch_rows + i) * row_bytes), _MM_HINT_T0);
    auto run = [&]<int kRun>() {
      __m256i u[kRows];
      for (int i = 0; i < kRows; ++i) u[i] = CodesOfRun<kRun>(Load(pb + i * row_bytes), mask3);
      for (int t = 0; t < kTokens; ++t) {
        const __m256i xv = Load(xb + t * w.cols_padded + 32 * kRun);
        for (int i = 0; i < kRows; ++i) acc[i][t] = _mm256_dpbusd_avx_epi32(acc[i][t], u[i], xv);
      }
    };
    run.template operator()<0>();
    run.template operator()<1>();
    run.template operator()<2>();
    run.template operator()<3>();
  }
  for (int t = 0; t < kTokens; ++t)
    for (int i = 0; i < kRows; ++i)
      y[(t0 + t) * y_stride + r + i - y_row0] = HorizontalSum(acc[i][t]) - x_sums[t0 + t];
}

constexpr int kTileRows = 2;
constexpr int kTileTokens = 5;  // 2 x 5 accumulators + 2 codes + x + mask = 14 registers
constexpr int64_t kRowsPerBlock = 32;  // 20-55 KB of codes: stays in L1/L2 for every token group

using TileFn = void (*)(const TernaryMatrixView&, int64_t, int64_t, const int8_t*, const int32_t*, int, int32_t*,
                        int64_t, int64_t);

// [rows - 1][tokens - 1][prefetch]
template <int kRows, int kTokens>
constexpr std::array<TileFn, 2> TilePair() {
  return {Tile<kRows, kTokens, false>, Tile<kRows, kTokens, true>};
}
constexpr std::array<TileFn, 2> kTiles[kTileRows][kTileTokens] = {
    {TilePair<1, 1>(), TilePair<1, 2>(), TilePair<1, 3>(), TilePair<1, 4>(), TilePair<1, 5>()},
    {TilePair<2, 1>(), TilePair<2, 2>(), TilePair<2, 3>(), TilePair<2, 4>(), TilePair<2, 5>()}};

// Blocks of 32 rows; the first token group reads a block's rows from memory
// and prefetches the next block's, the later groups find them in cache.
void MatMulAvxVnni(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end, const int8_t* x,
                   const int32_t* x_sums, int n, int32_t* y, int64_t y_stride) {
  for (int64_t rb = row_begin; rb < row_end; rb += kRowsPerBlock) {
    const int64_t rb_end = std::min(row_end, rb + kRowsPerBlock);
    for (int t0 = 0; t0 < n; t0 += kTileTokens) {
      const int tokens = std::min(kTileTokens, n - t0);
      const bool first = t0 == 0;
      for (int64_t r = rb; r < rb_end; r += kTileRows) {
        const int64_t rows = std::min<int64_t>(kTileRows, rb_end - r);
        kTiles[rows - 1][tokens - 1][first](w, r, kRowsPerBlock, x, x_sums, t0, y, y_stride, 0);
      }
    }
  }
}

// Decode: four rows per tile (four independent vpdpbusd chains), the rows
// two tiles on prefetched.
void MatVecAvxVnni(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end, const int8_t* x, int32_t x_sum,
                   int32_t* y) {
  constexpr int kRows = 4;
  int64_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows) Tile<kRows, 1, true>(w, r, 2 * kRows, x, &x_sum, 0, y, 0, row_begin);
  for (; r < row_end; ++r) Tile<1, 1, true>(w, r, 2 * kRows, x, &x_sum, 0, y, 0, row_begin);
}

}  // namespace

const W2A8Kernels* AvxVnniW2A8Kernels() {
  static const W2A8Kernels kernels{KernelIsa::kAvxVnni, "avxvnni", MatVecAvxVnni, MatMulAvxVnni};
  static const bool runnable = __builtin_cpu_supports("avx2") && CpuHasAvxVnni();
  return runnable ? &kernels : nullptr;
}

}  // namespace bitnet

#else

namespace bitnet {
const W2A8Kernels* AvxVnniW2A8Kernels() { return nullptr; }
}  // namespace bitnet

#endif
