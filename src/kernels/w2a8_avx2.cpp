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
#include <array>
#include <utility>

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

// Prefill.
//
// i16 partial sums stay exact for this many blocks. One maddubs lane is
// u0*x0 + u1*x1 with u in {0, 1, 2} and x in [-128, 127], so it lies in
// [-512, 508]; a block adds four runs into a lane: [-2048, 2032]; 16 blocks:
// [-32768, 32512], inside i16 (kernels_isa_test's all -128 x all +1 case
// reaches the lower end, and fails with 17). Widening to i32 once per 16
// blocks costs 2 of 20 or 54 blocks' worth of adds for the model's widths.
constexpr int64_t kBlocksPerI16Run = 16;

// [sum(a), sum(b), sum(c), sum(d)]: a transposing reduction, about half the
// instructions of four separate horizontal sums.
inline __m128i Reduce4(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
  const __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
  const __m256i abcd = _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
  return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

// Prefill tile: kRows rows x kTokens tokens. Each run of a block is unpacked
// once per row and reused for kTokens tokens, so one (row, token, run) costs
// a maddubs, an add and 2/kTokens unpack ops on the vector ALU ports, which
// are the limit; the rows share each activation load, which the load ports
// absorb. 3 x 4 fits the 16 ymm registers: 12 i16 accumulators and 3
// unpacked runs, with activations and the mask as memory operands.
// kPrefetch: request the same blocks of the next tile's rows, for the batched
// decode loop (MatMulSmallBatch), whose weights come from memory.
template <int kRows, int kTokens, bool kPrefetch = false>
void MatMulTile(const TernaryMatrixView& w, int64_t r, const int8_t* x, const int32_t* x_sums, int t0,
                int32_t* y, int64_t y_stride) {
  const int64_t blocks = w.cols_padded / kTernaryBlock;
  const int64_t row_bytes = w.row_bytes();
  const int64_t x_stride = w.cols_padded;
  const uint8_t* rows = w.row(r);
  const int8_t* xt = x + t0 * x_stride;
  const __m256i mask3 = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc32[kRows][kTokens];
  for (int i = 0; i < kRows; ++i)
    for (int t = 0; t < kTokens; ++t) acc32[i][t] = _mm256_setzero_si256();

  for (int64_t b0 = 0; b0 < blocks; b0 += kBlocksPerI16Run) {
    const int64_t b1 = std::min(blocks, b0 + kBlocksPerI16Run);
    __m256i acc16[kRows][kTokens];
    for (int i = 0; i < kRows; ++i)
      for (int t = 0; t < kTokens; ++t) acc16[i][t] = _mm256_setzero_si256();
    for (int64_t b = b0; b < b1; ++b) {
      const uint8_t* pb = rows + b * kTernaryBlockBytes;
      const int8_t* xb = xt + b * kTernaryBlock;
      if constexpr (kPrefetch)
        if (b % 2 == 0)  // a 64-byte line holds two blocks
          for (int i = 0; i < kRows; ++i)
            _mm_prefetch(reinterpret_cast<const char*>(pb + (kRows + i) * row_bytes), _MM_HINT_T0);
      auto run = [&]<int kRun>() {
        __m256i u[kRows];
        for (int i = 0; i < kRows; ++i) u[i] = CodesOfRun<kRun>(Load(pb + i * row_bytes), mask3);
        for (int t = 0; t < kTokens; ++t) {
          const __m256i xv = Load(xb + t * x_stride + 32 * kRun);
          for (int i = 0; i < kRows; ++i) {
            acc16[i][t] = _mm256_add_epi16(acc16[i][t], _mm256_maddubs_epi16(u[i], xv));
            // Left alone, GCC reassociates the four runs' sums into a tree
            // that needs all 48 products live and spills most of them; this
            // pins each accumulator to a register after every add.
            asm("" : "+x"(acc16[i][t]));
          }
        }
      };
      run.template operator()<0>();
      run.template operator()<1>();
      run.template operator()<2>();
      run.template operator()<3>();
    }
    for (int i = 0; i < kRows; ++i)
      for (int t = 0; t < kTokens; ++t)
        acc32[i][t] = _mm256_add_epi32(acc32[i][t], _mm256_madd_epi16(acc16[i][t], ones));
  }
  for (int i = 0; i < kRows; ++i) {
    if constexpr (kTokens == 4) {
      const __m128i sums = _mm_sub_epi32(Reduce4(acc32[i][0], acc32[i][1], acc32[i][2], acc32[i][3]),
                                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(x_sums + t0)));
      alignas(16) int32_t out[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(out), sums);
      for (int t = 0; t < 4; ++t) y[(t0 + t) * y_stride + r + i] = out[t];
    } else {
      for (int t = 0; t < kTokens; ++t) y[(t0 + t) * y_stride + r + i] = HorizontalSum(acc32[i][t]) - x_sums[t0 + t];
    }
  }
}

// Measured on the 2560- and 6912-column shapes (docs/PERFORMANCE.md): 2 x 6,
// 2 x 5, 3 x 3 and 4 x 3 come within a few percent of 3 x 4; 1 x 8 and 1 x 12
// lose 15-25% on 6912 columns, whose 8-12 token activations outgrow L1.
constexpr int kTileRows = 3;
constexpr int kTileTokens = 4;
// Rows per cache block: their codes (72 x 640 B for 2560 columns, 72 x 1728 B
// for 6912) stay in L2 while every token tile passes over them, and each token
// tile's activations stay in L1 across the block's row tiles. A multiple of
// the tile height so only the last block has an edge tile.
constexpr int64_t kRowsPerCacheBlock = 72;

using TileFn = void (*)(const TernaryMatrixView&, int64_t, const int8_t*, const int32_t*, int, int32_t*, int64_t);

template <int kRows, int... kTokens>
constexpr std::array<TileFn, kTileTokens> TilesOfRows(std::integer_sequence<int, kTokens...>) {
  return {MatMulTile<kRows, kTokens + 1>...};
}

template <int... kRows>
constexpr std::array<std::array<TileFn, kTileTokens>, kTileRows> AllTiles(std::integer_sequence<int, kRows...>) {
  return {TilesOfRows<kRows + 1>(std::make_integer_sequence<int, kTileTokens>())...};
}

// [rows - 1][tokens - 1]: the edge tiles reuse the same code at smaller sizes.
constexpr auto kTiles = AllTiles(std::make_integer_sequence<int, kTileRows>());

// Batched decode: n <= kSmallBatch tokens, one per sequence, against weights
// that come from memory. The cache-blocked loop (MatMulAvx2) would stream each row
// block from DRAM in its first token tile without prefetching (too little
// compute per byte for the hardware prefetcher to run ahead), so two tokens
// cost 2.5x one. Here each tile's rows are read from memory once, prefetched
// a tile ahead, and stay in L1 while the later token groups pass over them.
constexpr int kSmallBatch = 8;

template <int kRows>
void SmallBatchRows(const TernaryMatrixView& w, int64_t r, const int8_t* x, const int32_t* x_sums, int n,
                    int32_t* y, int64_t y_stride) {
  using PrefetchTileFn = void (*)(const TernaryMatrixView&, int64_t, const int8_t*, const int32_t*, int, int32_t*,
                                  int64_t);
  static constexpr PrefetchTileFn kFirst[kTileTokens] = {MatMulTile<kRows, 1, true>, MatMulTile<kRows, 2, true>,
                                                         MatMulTile<kRows, 3, true>, MatMulTile<kRows, 4, true>};
  kFirst[std::min(kTileTokens, n) - 1](w, r, x, x_sums, 0, y, y_stride);
  for (int t0 = kTileTokens; t0 < n; t0 += kTileTokens)
    kTiles[kRows - 1][std::min(kTileTokens, n - t0) - 1](w, r, x, x_sums, t0, y, y_stride);
}

void MatMulSmallBatch(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end, const int8_t* x,
                      const int32_t* x_sums, int n, int32_t* y, int64_t y_stride) {
  int64_t r = row_begin;
  for (; r + kTileRows <= row_end; r += kTileRows) SmallBatchRows<kTileRows>(w, r, x, x_sums, n, y, y_stride);
  for (; r < row_end; ++r) SmallBatchRows<1>(w, r, x, x_sums, n, y, y_stride);
}

void MatMulAvx2(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end, const int8_t* x,
                const int32_t* x_sums, int n, int32_t* y, int64_t y_stride) {
  if (n == 1) {
    MatVecAvx2(w, row_begin, row_end, x, x_sums[0], y + row_begin);
    return;
  }
  if (n <= kSmallBatch) return MatMulSmallBatch(w, row_begin, row_end, x, x_sums, n, y, y_stride);
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
