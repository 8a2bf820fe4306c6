// AVX-512 VNNI W2A8 kernels: the AVX2 structure (w2a8_avx2.cpp) with 512-bit
// vectors and vpdpbusd, which multiplies u8 codes by s8 activations and adds
// each group of four straight into i32 lanes (no i16 stage, no saturation).
// Compiled with AVX-512 flags (CMakeLists.txt): nothing here may run before
// Avx512VnniW2A8Kernels() has checked the CPU.
//
// A zmm of codes covers two consecutive 32-byte blocks, so the matching
// activation vector for run j is x[b*128 + 32j ..] in the low half and
// x[(b+1)*128 + 32j ..] in the high half. An odd last block is loaded with a
// byte mask: its high half reads as zero codes, which contribute nothing.
#include "kernels/w2a8.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// GCC 12's own _mm256_undefined_si256 (used inside the insert and extract
// intrinsics) trips -Wuninitialized; the value is never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/avx512_reduce.h"

namespace bitnet {
namespace {

// 64-byte aligned storage, so paired activations load with aligned loads.
template <typename T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{64}); }
  bool operator==(const AlignedAllocator&) const { return true; }
};

template <int kRun>
inline __m512i CodesOfRun(__m512i bytes, __m512i mask3) {
  return _mm512_and_si512(_mm512_srli_epi16(bytes, 6 - 2 * kRun), mask3);
}

// Codes of blocks b and b+1, or of block b alone (high half zero) when b is last.
inline __m512i LoadCodes(const uint8_t* p, bool pair) {
  return pair ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(0xFFFFFFFFull, p);
}

inline __m256i Load256(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Activations of run kRun for blocks b (low half) and b+1 (high half, zero
// when there is no block b+1).
template <int kRun>
inline __m512i LoadActivations(const int8_t* xb, bool pair) {
  const __m512i lo = _mm512_zextsi256_si512(Load256(xb + 32 * kRun));
  return pair ? _mm512_inserti64x4(lo, Load256(xb + kTernaryBlock + 32 * kRun), 1) : lo;
}

// Decode: four rows share the activation loads; each (row, run) pair has its
// own accumulator so no vpdpbusd waits on another's result.
void MatVecAvx512(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end, const int8_t* x,
                  int32_t x_sum, int32_t* y) {
  const int64_t blocks = w.cols_padded / kTernaryBlock;
  const int64_t row_bytes = w.row_bytes();
  const __m512i mask3 = _mm512_set1_epi8(3);
  constexpr int kRows = 4;
  int64_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows) {
    const uint8_t* p = w.row(r);
    __m512i acc[kRows][4];
    for (auto& row_acc : acc)
      for (auto& a : row_acc) a = _mm512_setzero_si512();
    for (int64_t b = 0; b < blocks; b += 2) {
      const bool pair = b + 1 < blocks;
      const int8_t* xb = x + b * kTernaryBlock;
      const __m512i xv[4] = {LoadActivations<0>(xb, pair), LoadActivations<1>(xb, pair),
                             LoadActivations<2>(xb, pair), LoadActivations<3>(xb, pair)};
      const uint8_t* pb = p + b * kTernaryBlockBytes;
      for (int i = 0; i < kRows; ++i) {
        // The same chunk of every row of the next group: prefetching only one
        // of them left three streams to the hardware prefetcher and held
        // decode to ~0.65 of the memory probe; all four reach it.
        _mm_prefetch(reinterpret_cast<const char*>(pb + (kRows + i) * row_bytes), _MM_HINT_T0);
        const __m512i bytes = LoadCodes(pb + i * row_bytes, pair);
        acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], CodesOfRun<0>(bytes, mask3), xv[0]);
        acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], CodesOfRun<1>(bytes, mask3), xv[1]);
        acc[i][2] = _mm512_dpbusd_epi32(acc[i][2], CodesOfRun<2>(bytes, mask3), xv[2]);
        acc[i][3] = _mm512_dpbusd_epi32(acc[i][3], CodesOfRun<3>(bytes, mask3), xv[3]);
      }
    }
    for (int i = 0; i < kRows; ++i) {
      const __m512i s = _mm512_add_epi32(_mm512_add_epi32(acc[i][0], acc[i][1]), _mm512_add_epi32(acc[i][2], acc[i][3]));
      y[r - row_begin + i] = _mm512_reduce_add_epi32(s) - x_sum;
    }
  }
  for (; r < row_end; ++r) {
    const uint8_t* p = w.row(r);
    __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int64_t b = 0; b < blocks; b += 2) {
      const bool pair = b + 1 < blocks;
      const int8_t* xb = x + b * kTernaryBlock;
      const __m512i bytes = LoadCodes(p + b * kTernaryBlockBytes, pair);
      acc[0] = _mm512_dpbusd_epi32(acc[0], CodesOfRun<0>(bytes, mask3), LoadActivations<0>(xb, pair));
      acc[1] = _mm512_dpbusd_epi32(acc[1], CodesOfRun<1>(bytes, mask3), LoadActivations<1>(xb, pair));
      acc[2] = _mm512_dpbusd_epi32(acc[2], CodesOfRun<2>(bytes, mask3), LoadActivations<2>(xb, pair));
      acc[3] = _mm512_dpbusd_epi32(acc[3], CodesOfRun<3>(bytes, mask3), LoadActivations<3>(xb, pair));
    }
    const __m512i s = _mm512_add_epi32(_mm512_add_epi32(acc[0], acc[1]), _mm512_add_epi32(acc[2], acc[3]));
    y[r - row_begin] = _mm512_reduce_add_epi32(s) - x_sum;
  }
}

// Prefill. The activations are first laid out the way a zmm of codes wants
// them: for each pair of blocks (b, b+1) and run j, 64 bytes holding
// x[b*128 + 32j ..] then x[(b+1)*128 + 32j ..] (zeros past the last block).
// Every activation vector is then one aligned load instead of two loads and
// an insert on the shuffle port that vpdpbusd also needs.
int64_t PairedBytesPerToken(int64_t blocks) { return (blocks + 1) / 2 * 4 * 64; }

void PairActivations(const int8_t* x, int64_t cols_padded, int n, int8_t* paired) {
  const int64_t blocks = cols_padded / kTernaryBlock;
  const int64_t per_token = PairedBytesPerToken(blocks);
  for (int t = 0; t < n; ++t) {
    const int8_t* xt = x + t * cols_padded;
    int8_t* out = paired + t * per_token;
    for (int64_t b = 0; b < blocks; b += 2)
      for (int run = 0; run < 4; ++run, out += 64) {
        std::memcpy(out, xt + b * kTernaryBlock + 32 * run, 32);
        if (b + 1 < blocks)
          std::memcpy(out + 32, xt + (b + 1) * kTernaryBlock + 32 * run, 32);
        else
          std::memset(out + 32, 0, 32);
      }
  }
}

// A tile of kRows rows x kTokens tokens: kRows * kTokens accumulators, kRows
// unpacked code vectors and one activation vector within the 32 zmm registers
// (4 x 6 + 4 + 1 = 29). Six tokens share each unpack, which is what bounds
// the tile once the activation inserts are gone. kPrefetch: request the same
// blocks of the rows two tiles on, for the batched decode loop below, whose
// weights come from memory.
template <int kRows, int kTokens, bool kPrefetch = false>
void MatMulTile(const TernaryMatrixView& w, int64_t r, const int8_t* paired, int64_t paired_stride,
                const int32_t* x_sums, int t0, int32_t* y, int64_t y_stride) {
  const int64_t blocks = w.cols_padded / kTernaryBlock;
  const int64_t row_bytes = w.row_bytes();
  const uint8_t* rows = w.row(r);
  const int8_t* xt = paired + t0 * paired_stride;
  const __m512i mask3 = _mm512_set1_epi8(3);
  __m512i acc[kRows][kTokens];
  for (int i = 0; i < kRows; ++i)
    for (int t = 0; t < kTokens; ++t) acc[i][t] = _mm512_setzero_si512();
  // One pair of blocks (or the odd last block alone). The pair test is a
  // template argument, not a branch in the loop: with the branch inside,
  // GCC 12 kept the accumulators on the stack and stored all of them after
  // every run, which halved the tile's rate.
  auto blocks_at = [&]<bool kPair>(int64_t b, int64_t at) {
    const uint8_t* pb = rows + b * kTernaryBlockBytes;
    // Two tiles ahead: 8 tokens on gate|up took 1.15-1.18 ms this way
    // against 1.34-1.86 ms one tile ahead (BM_W2A8MatMulStreamed, a noisy
    // machine); 4 tokens the same. Past the matrix's last row this only
    // prefetches, which never faults.
    if constexpr (kPrefetch)
      for (int i = 0; i < kRows; ++i)
        _mm_prefetch(reinterpret_cast<const char*>(pb + (2 * kRows + i) * row_bytes), _MM_HINT_T0);
    auto run = [&]<int kRun>() {
      __m512i u[kRows];
      for (int i = 0; i < kRows; ++i) u[i] = CodesOfRun<kRun>(LoadCodes(pb + i * row_bytes, kPair), mask3);
      for (int t = 0; t < kTokens; ++t) {
        const __m512i xv = _mm512_load_si512(xt + t * paired_stride + at + 64 * kRun);
        for (int i = 0; i < kRows; ++i) acc[i][t] = _mm512_dpbusd_epi32(acc[i][t], u[i], xv);
      }
    };
    run.template operator()<0>();
    run.template operator()<1>();
    run.template operator()<2>();
    run.template operator()<3>();
  };
  int64_t b = 0, at = 0;
  for (; b + 1 < blocks; b += 2, at += 4 * 64) blocks_at.template operator()<true>(b, at);
  if (b < blocks) blocks_at.template operator()<false>(b, at);
  for (int t = 0; t < kTokens; ++t) {
    int32_t* yt = y + (t0 + t) * y_stride + r;
    for (int i0 = 0; i0 < kRows; i0 += 4)
      _mm_mask_storeu_epi32(yt + i0, RowLanes(kRows, i0),
                            _mm_sub_epi32(Reduce4Rows<kRows>(acc, i0, t), _mm_set1_epi32(x_sums[t0 + t])));
  }
}

// Batched decode: n <= kSmallBatch tokens, one per sequence, against weights
// that come from memory. The cache-blocked prefill loop (MatMulAvx512) would
// stream each row block from DRAM in its first token tile with no prefetch
// (compute per byte is too low for the hardware prefetcher to run ahead),
// which made two tokens cost 2.5x one. Here one pass carries every token, so
// each weight byte is read once, and rows two tiles ahead are prefetched.
// kRows is the most rows whose kRows * n accumulators, kRows unpacked runs
// and one activation vector fit the 32 zmm registers.
constexpr int kSmallBatch = 8;

template <int kTokens>
constexpr int SmallBatchRows() {
  return std::min(8, (32 - 1) / (kTokens + 1));
}

template <int kTokens>
void SmallBatchRange(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end, const int8_t* paired,
                     int64_t paired_stride, const int32_t* x_sums, int32_t* y, int64_t y_stride) {
  constexpr int kRows = SmallBatchRows<kTokens>();
  int64_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows)
    MatMulTile<kRows, kTokens, true>(w, r, paired, paired_stride, x_sums, 0, y, y_stride);
  for (; r < row_end; ++r) MatMulTile<1, kTokens, true>(w, r, paired, paired_stride, x_sums, 0, y, y_stride);
}

using SmallBatchFn = void (*)(const TernaryMatrixView&, int64_t, int64_t, const int8_t*, int64_t, const int32_t*,
                              int32_t*, int64_t);
// [n - 2] for n in 2..kSmallBatch.
constexpr SmallBatchFn kSmallBatchRanges[] = {SmallBatchRange<2>, SmallBatchRange<3>, SmallBatchRange<4>,
                                              SmallBatchRange<5>, SmallBatchRange<6>, SmallBatchRange<7>,
                                              SmallBatchRange<8>};
static_assert(std::size(kSmallBatchRanges) == kSmallBatch - 1);

constexpr int kTileRows = 4;
constexpr int kTileTokens = 6;
constexpr int64_t kRowsPerCacheBlock = 64;  // see w2a8_avx2.cpp

using TileFn = void (*)(const TernaryMatrixView&, int64_t, const int8_t*, int64_t, const int32_t*, int, int32_t*,
                        int64_t);

template <int kRows>
constexpr std::array<TileFn, kTileTokens> TilesOfRows() {
  return {MatMulTile<kRows, 1>, MatMulTile<kRows, 2>, MatMulTile<kRows, 3>,
          MatMulTile<kRows, 4>, MatMulTile<kRows, 5>, MatMulTile<kRows, 6>};
}

constexpr std::array<TileFn, kTileTokens> kTiles[kTileRows] = {TilesOfRows<1>(), TilesOfRows<2>(), TilesOfRows<3>(),
                                                               TilesOfRows<4>()};

void MatMulAvx512(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end, const int8_t* x,
                  const int32_t* x_sums, int n, int32_t* y, int64_t y_stride) {
  if (n == 1) {
    MatVecAvx512(w, row_begin, row_end, x, x_sums[0], y + row_begin);
    return;
  }
  // Per thread: each thread pairs the whole batch (a few MB at most, cheap
  // next to the product) so row ranges stay independent.
  const int64_t paired_stride = PairedBytesPerToken(w.cols_padded / kTernaryBlock);
  thread_local std::vector<int8_t, AlignedAllocator<int8_t>> paired;
  paired.resize(static_cast<size_t>(paired_stride * n));
  PairActivations(x, w.cols_padded, n, paired.data());
  if (n <= kSmallBatch)
    return kSmallBatchRanges[n - 2](w, row_begin, row_end, paired.data(), paired_stride, x_sums, y, y_stride);
  for (int64_t rb = row_begin; rb < row_end; rb += kRowsPerCacheBlock) {
    const int64_t rb_end = std::min(row_end, rb + kRowsPerCacheBlock);
    for (int t0 = 0; t0 < n; t0 += kTileTokens) {
      const int tokens = std::min(kTileTokens, n - t0);
      for (int64_t r = rb; r < rb_end; r += kTileRows) {
        const int64_t rows = std::min<int64_t>(kTileRows, rb_end - r);
        kTiles[rows - 1][tokens - 1](w, r, paired.data(), paired_stride, x_sums, t0, y, y_stride);
      }
    }
  }
}

}  // namespace

const W2A8Kernels* Avx512VnniW2A8Kernels() {
  static const W2A8Kernels kernels{KernelIsa::kAvx512Vnni, "avx512vnni", MatVecAvx512, MatMulAvx512};
  static const bool runnable = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
  return runnable ? &kernels : nullptr;
}

}  // namespace bitnet

#pragma GCC diagnostic pop

#else

namespace bitnet {
const W2A8Kernels* Avx512VnniW2A8Kernels() { return nullptr; }
}  // namespace bitnet

#endif
