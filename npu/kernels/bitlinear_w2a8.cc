// AIE core kernels for the BitLinear designs (AIE2 = npu1, AIE2P = npu2).
// The arithmetic lives in w2a8_tile.h, which the host emulator compiles too;
// this file only gives it C symbols the IRON design links against
// (npu/designs/bitlinear_gemv.py: Kernel("bitlinear_w2a8", "bitlinear_w2a8.o")).
//
// Per call: c[t][32] += W_tile[32][256] . x[t][256], t < tokens <= 4. Core-local
// memory per core (double-buffered, see NpuTilingPlan::l1_bytes): 2 x 2 KiB
// weights + 2 x 1 KiB activations + 2 x 512 B results, far under the 64 KiB L1.
//
// Status: written against the AIE API; NOT compiled with Peano and NOT run on
// hardware (no toolchain or NPU where it was written). The arithmetic is
// int8 x uint8 aie::mmul<4, 8, 8> with mask-only unpacking (no vector
// shifts, which Peano was reported to fail to legalize on AIE2P).
// Unverified: that aie_api provides the int8 x uint8 4x8x8 mode with acc32
// on AIE2 as it documents for AIE2P (aie2p/mmul_8_8.hpp); if not, B could be
// int8 with the j = 3 mask shifted down by 2 once per block.
#include <stdint.h>

#include "w2a8_tile.h"

extern "C" {

// The one core program (npu/designs/bitlinear_gemv.py) calls these two for
// every shape; `tokens` is the runtime parameter the runtime sequence wrote.
void bitlinear_zero(int32_t* c) { bitnet_npu::ZeroTileMax(c); }

void bitlinear_w2a8(const uint8_t* w, const int8_t* x, int32_t* c, int32_t tokens) {
  bitnet_npu::W2A8TileMacTokens(w, x, c, tokens);
}

}  // extern "C"
