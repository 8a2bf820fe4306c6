// The arithmetic of one AIE core step, shared by the AIE kernel
// (bitlinear_w2a8.cc, compiled by Peano against aie_api) and the host
// emulator (through aie_host_shim.h). Keep it to the aie:: subset the shim
// implements. It also owns the in-tile byte layouts (TileByte, XByte), which
// the host packing (src/backend/npu/npu_layout.cpp) uses.
//
// One call: c[t][0..32) += W_tile[32 rows][256 k] . x[t][0..256) for the
// live tokens t < tokens <= kMaxTokens, as int8 x uint8 aie::mmul<4, 8, 8>
// blocks: A = 4 tokens x 8 activations, B = 8 masked weight codes x 8 rows.
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
inline constexpr int kQuads = kKChunk / 4;  // a byte holds the codes of 4 columns (a quad)
// The fifo objects hold this many tokens (= NpuTilingPlan::kMaxTokens): the
// M of the mmul, so decode (1 live token) and prefill share one kernel.
inline constexpr int kMaxTokens = 4;
// mmul block: M tokens x K quads (A), K quads x N rows (B).
inline constexpr int kBlockQuads = 8, kBlockRows = 8;
inline constexpr int kRowGroups = kTileRows / kBlockRows;   // 4
inline constexpr int kQuadBlocks = kQuads / kBlockQuads;     // 8
inline constexpr int kBlockBytes = kBlockQuads * kBlockRows;  // 64: one 512-bit B vector

// Weight tile (2 KiB): blocks of 8 quads x 8 rows, row group g major, quad
// block b minor; inside a block, quad-major (B is K x N row-major). The byte
// of (row i, quad q) holds u = w + 1 of columns 4q + j in bits 2j+1..2j.
constexpr int TileByte(int row, int quad) {
  return ((row / kBlockRows) * kQuadBlocks + quad / kBlockQuads) * kBlockBytes + (quad % kBlockQuads) * kBlockRows +
         row % kBlockRows;
}

// Activation chunk (1 KiB): the mmul A operand of every (j, quad block b) is
// 4 tokens x 8 activations x[t][4 * (8b + qq) + j], contiguous (32 bytes).
constexpr int XByte(int token, int k) {
  const int quad = k / 4, j = k % 4;
  return ((j * kQuadBlocks + quad / kBlockQuads) * kMaxTokens + token) * kBlockQuads + quad % kBlockQuads;
}

inline void ZeroTileMax(int32_t* __restrict c) {
  for (int t = 0; t < kMaxTokens; ++t) aie::store_v(c + t * kTileRows, aie::zeros<int32_t, kTileRows>());
}

// Mask-only unpacking, as the CPU kernels: u = w + 1 in {0, 1, 2} is used
// unsigned and the activation sum is subtracted once (W.x = u.x - sum x).
// Mask 3 << 2j selects column j of every quad in place as u * 4^j (0..128,
// hence uint8 B); A cannot carry the 4^-j in int8, so each j has its own
// mmul and its exact multiple of 4^j is shifted down by 2j when converted
// (an exact shift: rounding never applies). |sum| < 2 * 128 * 64 * 4^3, far
// inside acc32. No per-weight shift or subtract.
inline void W2A8TileMmul(const uint8_t* __restrict w, const int8_t* __restrict x, int32_t* __restrict c,
                         int tokens) {
  // The mode registers persist across kernels and default differently per
  // compiler prologue, so set them.
  aie::set_rounding(aie::rounding_mode::floor);
  aie::set_saturation(aie::saturation_mode::saturate);
  using MMUL = aie::mmul<kMaxTokens, kBlockQuads, kBlockRows, int8_t, uint8_t, acc32>;

  int32_t x_sum[kMaxTokens];
  for (int t = 0; t < kMaxTokens; ++t) {
    x_sum[t] = 0;
    for (int k = 0; k < kKChunk; ++k) x_sum[t] += x[XByte(t, k)];
  }
  for (int g = 0; g < kRowGroups; ++g) {
    aie::vector<int32_t, kMaxTokens * kBlockRows> sum = aie::zeros<int32_t, kMaxTokens * kBlockRows>();
    for (int j = 0; j < 4; ++j) {
      const auto mask = static_cast<uint8_t>(3u << (2 * j));
      MMUL m;
      for (int b = 0; b < kQuadBlocks; ++b) {
        const aie::vector<int8_t, MMUL::size_A> a = aie::load_v<MMUL::size_A>(x + (j * kQuadBlocks + b) * MMUL::size_A);
        const aie::vector<uint8_t, MMUL::size_B> codes =
            aie::load_v<MMUL::size_B>(w + (g * kQuadBlocks + b) * kBlockBytes);
        if (b == 0)
          m.mul(a, aie::bit_and(mask, codes));
        else
          m.mac(a, aie::bit_and(mask, codes));
      }
      sum = aie::add(sum, m.template to_vector<int32_t>(2 * j));
    }
    // C is tokens x 8 rows; row group g of token t is 8 consecutive int32 of c.
    for (int t = 0; t < tokens; ++t) {
      int32_t* ct = c + t * kTileRows + g * kBlockRows;
      const aie::vector<int32_t, kBlockRows> old = aie::load_v<kBlockRows>(ct);
      aie::store_v(ct, aie::sub(aie::add(old, sum.template extract<kBlockRows>(static_cast<unsigned>(t))), x_sum[t]));
    }
  }
}

// Returns false (computing nothing) when tokens is out of range, so a bad
// runtime parameter shows as a wrong result, not as a memory fault.
inline bool W2A8TileMacTokens(const uint8_t* __restrict w, const int8_t* __restrict x, int32_t* __restrict c,
                              int32_t tokens) {
  if (tokens < 1 || tokens > kMaxTokens) return false;
  W2A8TileMmul(w, x, c, tokens);
  return true;
}

}  // namespace bitnet_npu
