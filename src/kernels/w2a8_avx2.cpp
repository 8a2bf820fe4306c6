// AVX2 W2A8 kernels. This file alone is compiled with -mavx2 (CMakeLists.txt),
// so nothing here may run before Avx2W2A8Kernels() has checked the CPU.
//
// Arithmetic: _mm256_maddubs_epi16(u, x) multiplies u8 codes (0..2) by s8
// activations and adds adjacent pairs into i16; a pair is at most
// 2*2*128 = 512 in magnitude, so it never saturates. Everything after that is
// exact integer addition, which is why the result is bit-exact with the
// scalar reference regardless of summation order.
#include "kernels/w2a8.h"

#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>

#include <algorithm>

namespace bitnet {
namespace {

// The four 32-weight runs of one block: bits 7-6 are weights 0..31, and so on.
template <int kRun>
inline __m256i CodesOfRun(__m256i bytes, __m256i mask3) {
  return _mm256_and_si256(_mm256_srli_epi16(bytes, 6 - 2 * kRun), mask3);
}

inline int32_t HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

inline __m256i Load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// sum_k u*x over one block for one row, as i16 lanes (|lane| <= 4 * 512).
inline __m256i BlockDot16(__m256i bytes, const __m256i x[4], __m256i mask3) {
  const __m256i p0 = _mm256_maddubs_epi16(CodesOfRun<0>(bytes, mask3), x[0]);
  const __m256i p1 = _mm256_maddubs_epi16(CodesOfRun<1>(bytes, mask3), x[1]);
  const __m256i p2 = _mm256_maddubs_epi16(CodesOfRun<2>(bytes, mask3), x[2]);
  const __m256i p3 = _mm256_maddubs_epi16(CodesOfRun<3>(bytes, mask3), x[3]);
  return _mm256_add_epi16(_mm256_add_epi16(p0, p1), _mm256_add_epi16(p2, p3));
}

// Decode reads each weight once, so it is memory-bound: four rows at a time
// share the activation loads and give the prefetcher four nearby streams.
void MatVecAvx2(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end, const int8_t* x,
                int32_t x_sum, int32_t* y) {
  const int64_t blocks = w.cols_padded / kTernaryBlock;
  const int64_t row_bytes = w.row_bytes();
  const __m256i mask3 = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  int64_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const uint8_t* p = w.row(r);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int64_t b = 0; b < blocks; ++b) {
      const int8_t* xb = x + b * kTernaryBlock;
      const __m256i xv[4] = {Load(xb), Load(xb + 32), Load(xb + 64), Load(xb + 96)};
      const uint8_t* pb = p + b * kTernaryBlockBytes;
      // Every row of the next group (w2a8_avx512.cpp says why); a 64-byte
      // line holds two blocks, so odd blocks find theirs already requested.
      if (b % 2 == 0)
        for (int i = 4; i < 8; ++i) _mm_prefetch(reinterpret_cast<const char*>(pb + i * row_bytes), _MM_HINT_T0);
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(BlockDot16(Load(pb), xv, mask3), ones));
      acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(BlockDot16(Load(pb + row_bytes), xv, mask3), ones));
      acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(BlockDot16(Load(pb + 2 * row_bytes), xv, mask3), ones));
      acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(BlockDot16(Load(pb + 3 * row_bytes), xv, mask3), ones));
    }
    int32_t* out = y + (r - row_begin);
    out[0] = HorizontalSum(acc0) - x_sum;
    out[1] = HorizontalSum(acc1) - x_sum;
    out[2] = HorizontalSum(acc2) - x_sum;
    out[3] = HorizontalSum(acc3) - x_sum;
  }
  for (; r < row_end; ++r) {
    const uint8_t* p = w.row(r);
    __m256i acc = _mm256_setzero_si256();
    for (int64_t b = 0; b < blocks; ++b) {
      const int8_t* xb = x + b * kTernaryBlock;
      const __m256i xv[4] = {Load(xb), Load(xb + 32), Load(xb + 64), Load(xb + 96)};
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(BlockDot16(Load(p + b * kTernaryBlockBytes), xv, mask3), ones));
    }
    y[r - row_begin] = HorizontalSum(acc) - x_sum;
  }
}

// i16 partial sums stay exact for this many blocks: 8 * 4 * 512 = 16384 < 32767.
constexpr int64_t kBlocksPerI16Run = 8;

// Prefill tile: kRows rows x kTokens tokens. Each block's codes are unpacked
// once per row and reused for kTokens tokens; each activation load is reused
// for kRows rows. 2 x 4 keeps the 8 i16 accumulators, the unpacked codes and
// one activation vector inside the 16 ymm registers.
template <int kRows, int kTokens>
void MatMulTile(const uint8_t* rows, int64_t row_bytes, int64_t blocks, const int8_t* x, int64_t x_stride,
                int32_t out[kRows][kTokens]) {
  const __m256i mask3 = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc32[kRows][kTokens];
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) acc32[r][t] = _mm256_setzero_si256();

  for (int64_t b0 = 0; b0 < blocks; b0 += kBlocksPerI16Run) {
    const int64_t b1 = std::min(blocks, b0 + kBlocksPerI16Run);
    __m256i acc16[kRows][kTokens];
    for (int r = 0; r < kRows; ++r)
      for (int t = 0; t < kTokens; ++t) acc16[r][t] = _mm256_setzero_si256();
    for (int64_t b = b0; b < b1; ++b) {
      __m256i bytes[kRows];
      for (int r = 0; r < kRows; ++r) bytes[r] = Load(rows + r * row_bytes + b * kTernaryBlockBytes);
      const int8_t* xb = x + b * kTernaryBlock;
      auto run = [&]<int kRun>() {
        __m256i u[kRows];
        for (int r = 0; r < kRows; ++r) u[r] = CodesOfRun<kRun>(bytes[r], mask3);
        for (int t = 0; t < kTokens; ++t) {
          const __m256i xv = Load(xb + t * x_stride + 32 * kRun);
          for (int r = 0; r < kRows; ++r)
            acc16[r][t] = _mm256_add_epi16(acc16[r][t], _mm256_maddubs_epi16(u[r], xv));
        }
      };
      run.template operator()<0>();
      run.template operator()<1>();
      run.template operator()<2>();
      run.template operator()<3>();
    }
    for (int r = 0; r < kRows; ++r)
      for (int t = 0; t < kTokens; ++t)
        acc32[r][t] = _mm256_add_epi32(acc32[r][t], _mm256_madd_epi16(acc16[r][t], ones));
  }
  for (int r = 0; r < kRows; ++r)
    for (int t = 0; t < kTokens; ++t) out[r][t] = HorizontalSum(acc32[r][t]);
}

constexpr int kTileRows = 2;
constexpr int kTileTokens = 4;
// Rows per cache block: their codes (64 x 640 B for 2560 columns) stay in L2
// while every token tile passes over them, and each token tile's activations
// stay in L1 across the block's row tiles.
constexpr int64_t kRowsPerCacheBlock = 64;

template <int kRows, int kTokens>
void RunTile(const TernaryMatrixView& w, int64_t r, const int8_t* x, const int32_t* x_sums, int t0, int32_t* y,
             int64_t y_stride) {
  int32_t out[kRows][kTokens];
  MatMulTile<kRows, kTokens>(w.row(r), w.row_bytes(), w.cols_padded / kTernaryBlock, x + t0 * w.cols_padded,
                             w.cols_padded, out);
  for (int t = 0; t < kTokens; ++t)
    for (int i = 0; i < kRows; ++i) y[(t0 + t) * y_stride + r + i] = out[i][t] - x_sums[t0 + t];
}

using TileFn = void (*)(const TernaryMatrixView&, int64_t, const int8_t*, const int32_t*, int, int32_t*, int64_t);

// [rows - 1][tokens - 1]: the edge tiles reuse the same code at smaller sizes.
constexpr TileFn kTiles[kTileRows][kTileTokens] = {
    {RunTile<1, 1>, RunTile<1, 2>, RunTile<1, 3>, RunTile<1, 4>},
    {RunTile<2, 1>, RunTile<2, 2>, RunTile<2, 3>, RunTile<2, 4>},
};

void MatMulAvx2(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end, const int8_t* x,
                const int32_t* x_sums, int n, int32_t* y, int64_t y_stride) {
  if (n == 1) {
    MatVecAvx2(w, row_begin, row_end, x, x_sums[0], y + row_begin);
    return;
  }
  for (int64_t rb = row_begin; rb < row_end; rb += kRowsPerCacheBlock) {
    const int64_t rb_end = std::min(row_end, rb + kRowsPerCacheBlock);
    for (int t0 = 0; t0 < n; t0 += kTileTokens) {
      const int tokens = std::min(kTileTokens, n - t0);
      for (int64_t r = rb; r < rb_end; r += kTileRows) {
        const int64_t rows = std::min<int64_t>(kTileRows, rb_end - r);
        kTiles[rows - 1][tokens - 1](w, r, x, x_sums, t0, y, y_stride);
      }
    }
  }
}

}  // namespace

const W2A8Kernels* Avx2W2A8Kernels() {
  static const W2A8Kernels kernels{KernelIsa::kAvx2, "avx2", MatVecAvx2, MatMulAvx2};
  static const bool runnable = __builtin_cpu_supports("avx2");
  return runnable ? &kernels : nullptr;
}

}  // namespace bitnet

#else

namespace bitnet {
const W2A8Kernels* Avx2W2A8Kernels() { return nullptr; }
}  // namespace bitnet

#endif
