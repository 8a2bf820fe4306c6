// The arithmetic of one AIE core step, shared by the AIE kernel
// (bitlinear_w2a8.cc, compiled by Peano or xchesscc against aie_api) and the
// host emulator (src/backend/npu/emulator.cpp, compiled against
// aie_host_shim.h). Keep it to the aie:: subset the shim implements.
//
// One call: c[t][0..32) += W_tile[32 rows][256 k] . x[t][0..256) for each of
// kTokens tokens. The weight tile is 64 column quads of 32 bytes; byte i of
// quad q holds u = w + 1 of W[i][4q + j] in bits 2j+1..2j (npu_layout.h).
// Masking gives one 32-row vector per column, multiplied by that column's
// (scaled) activation as a scalar, so the 32 acc32 lanes are the 32 rows.
#pragma once
#include <stdint.h>

#if defined(__AIECC__) || defined(__chess__)
#include <aie_api/aie.hpp>
#else
#include "aie_host_shim.h"
#endif

namespace bitnet_npu {

inline constexpr int kTileRows = 32;   // = NpuTilingPlan::kTileRows
inline constexpr int kKChunk = 256;    // = NpuTilingPlan::kKChunk
inline constexpr int kQuadBytes = kTileRows;
inline constexpr int kQuads = kKChunk / 4;
// The one core program's fifo objects hold this many tokens (= NpuTilingPlan::kMaxTokens).
inline constexpr int kMaxTokens = 4;

template <int kTokens>
inline void ZeroTile(int32_t* __restrict c) {
  for (int t = 0; t < kTokens; ++t) aie::store_v(c + t * kTileRows, aie::zeros<int32_t, kTileRows>());
}

// Mask-only unpacking, as the CPU kernels: u = w + 1 in {0, 1, 2} is used
// unsigned, and the activation sum is subtracted once (W.x = u.x - sum x).
// Column j of a quad is selected in place by the mask 3 << 2j, which yields
// u * 4^j; its activation is pre-scaled by 4^(3-j), so every product is
// 64 * u * x and one accumulator per token holds 64 * sum(u.x) exactly
// (|64 * 2 * 128 * 256| < 2^23 per call). No shift or subtract per weight.
template <int kTokens>
inline void W2A8TileMac(const uint8_t* __restrict w, const int8_t* __restrict x, int32_t* __restrict c) {
  // The mode registers persist across kernels and default differently per
  // compiler prologue, so set them. The final downshift by 6 divides an exact
  // multiple of 64, so rounding never applies; saturate rather than wrap if a
  // sum ever left int32.
  aie::set_rounding(aie::rounding_mode::floor);
  aie::set_saturation(aie::saturation_mode::saturate);
  constexpr int kScaleShift = 6;  // log2(4^3)

  int32_t x_sum[kTokens];
  for (int t = 0; t < kTokens; ++t) {
    x_sum[t] = 0;
    for (int k = 0; k < kKChunk; ++k) x_sum[t] += x[t * kKChunk + k];
  }
  // Seed each accumulator with 64 * (c - sum x) so the correction costs nothing per weight.
  aie::accum<acc32, kTileRows> acc[kTokens];
  for (int t = 0; t < kTokens; ++t)
    acc[t].from_vector(aie::sub(aie::load_v<kTileRows>(c + t * kTileRows), x_sum[t]), kScaleShift);

  for (int q = 0; q < kQuads; ++q) {
    const aie::vector<uint8_t, kQuadBytes> codes = aie::load_v<kQuadBytes>(w + q * kQuadBytes);
    for (int j = 0; j < 4; ++j) {
      const aie::vector<uint8_t, kQuadBytes> u_scaled = aie::bit_and(static_cast<uint8_t>(3u << (2 * j)), codes);
      for (int t = 0; t < kTokens; ++t) {
        const auto xs = static_cast<int16_t>(x[t * kKChunk + 4 * q + j] * (1 << (2 * (3 - j))));
        acc[t] = aie::mac(acc[t], u_scaled, xs);
      }
    }
  }
  for (int t = 0; t < kTokens; ++t) aie::store_v(c + t * kTileRows, acc[t].template to_vector<int32_t>(kScaleShift));
}

// Entry points of the shape-agnostic core program: the activation chunk is
// [kMaxTokens][kKChunk] and the result tile [kMaxTokens][kTileRows], and
// `tokens` (a runtime parameter) says how many are live. One branch per call
// keeps every accumulator loop unrolled at compile time.
inline void ZeroTileMax(int32_t* __restrict c) { ZeroTile<kMaxTokens>(c); }

// Returns false (computing nothing) when tokens is out of range, so a bad
// runtime parameter shows as a wrong result in tests, not as a memory fault.
inline bool W2A8TileMacTokens(const uint8_t* __restrict w, const int8_t* __restrict x, int32_t* __restrict c,
                              int32_t tokens) {
  switch (tokens) {
    case 1: W2A8TileMac<1>(w, x, c); return true;
    case 2: W2A8TileMac<2>(w, x, c); return true;
    case 3: W2A8TileMac<3>(w, x, c); return true;
    case 4: W2A8TileMac<4>(w, x, c); return true;
    default: return false;
  }
}

}  // namespace bitnet_npu
