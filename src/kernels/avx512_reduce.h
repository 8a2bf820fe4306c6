// Horizontal sums for the AVX-512 kernels (included only by files compiled
// with AVX-512 flags). Tiles end with one int32 dot per accumulator; four
// separate _mm512_reduce_add_epi32 cost about three times the shuffles of
// one transposing reduction, which showed at small batches, where a tile's
// reduction is a large part of its work.
#pragma once
#include <immintrin.h>

namespace bitnet {

// [sum(a), sum(b), sum(c), sum(d)]; integer adds, so any order is exact.
inline __m128i Reduce4(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));  // a b a b per lane
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  const __m512i abcd = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));  // a b c d
  const __m256i half = _mm256_add_epi32(_mm512_castsi512_si256(abcd), _mm512_extracti64x4_epi64(abcd, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256(half, 1));
}

// Sums of acc[i0 .. i0 + 4) of a column of accumulators (acc[i][t] for one t),
// zero for i >= kRows, and the mask of the lanes that are rows of the tile.
template <int kRows, typename Acc>
inline __m128i Reduce4Rows(const Acc& acc, int i0, int t) {
  auto at = [&](int i) { return i < kRows ? acc[i][t] : _mm512_setzero_si512(); };
  return Reduce4(at(i0), at(i0 + 1), at(i0 + 2), at(i0 + 3));
}
constexpr __mmask8 RowLanes(int kRows, int i0) {
  return static_cast<__mmask8>(kRows - i0 >= 4 ? 0xf : (1u << (kRows - i0)) - 1);
}

}  // namespace bitnet
