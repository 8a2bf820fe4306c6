// The arithmetic of one AIE core step, shared by the AIE kernel
// (bitlinear_w2a8.cc, compiled by Peano or xchesscc against aie_api) and the
// host emulator (src/backend/npu/emulator.cpp, compiled against
// aie_host_shim.h). Keep it to the aie:: subset the shim implements.
//
// One call: c[t][0..32) += W_tile[32 rows][256 k] . x[t][0..256) for each of
// kTokens tokens. The weight tile is 64 column quads of 32 bytes; byte i of
// quad q holds u = w + 1 of W[i][4q + j] in bits 2j+1..2j (npu_layout.h).
// Unpacking gives one 32-row weight vector per column, multiplied by that
// column's activation as a scalar, so the 32 acc32 lanes are the 32 rows.
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

template <int kTokens>
inline void ZeroTile(int32_t* __restrict c) {
  for (int t = 0; t < kTokens; ++t) aie::store_v(c + t * kTileRows, aie::zeros<int32_t, kTileRows>());
}

template <int kTokens>
inline void W2A8TileMac(const uint8_t* __restrict w, const int8_t* __restrict x, int32_t* __restrict c) {
  // The mode registers persist across kernels and default differently per
  // compiler prologue, so set them. Shift 0 into int32 never rounds, and the
  // sums stay far below 2^31; saturate rather than wrap if that ever changed.
  aie::set_rounding(aie::rounding_mode::floor);
  aie::set_saturation(aie::saturation_mode::saturate);

  aie::accum<acc32, kTileRows> acc[kTokens];
  for (int t = 0; t < kTokens; ++t) acc[t].from_vector(aie::load_v<kTileRows>(c + t * kTileRows));

  for (int q = 0; q < kQuads; ++q) {
    const aie::vector<uint8_t, kQuadBytes> codes = aie::load_v<kQuadBytes>(w + q * kQuadBytes);
    for (int j = 0; j < 4; ++j) {
      const aie::vector<uint8_t, kQuadBytes> u = aie::bit_and(static_cast<uint8_t>(3), aie::logical_downshift(codes, 2 * j));
      // u - 1 in {-1, 0, 1}; code 3 never reaches the device (the loader rejects it).
      const aie::vector<int8_t, kQuadBytes> wv = aie::sub(u.template cast_to<int8_t>(), static_cast<int8_t>(1));
      for (int t = 0; t < kTokens; ++t) acc[t] = aie::mac(acc[t], wv, x[t * kKChunk + 4 * q + j]);
    }
  }
  for (int t = 0; t < kTokens; ++t) aie::store_v(c + t * kTileRows, acc[t].template to_vector<int32_t>(0));
}

}  // namespace bitnet_npu
