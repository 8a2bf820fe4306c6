// NEON W2A8 kernels for aarch64 CPUs with the dot-product extension (sdot).
// Codes u are 0..2, so they are valid s8 values and vdotq_s32 multiplies them
// by the s8 activations exactly, four products per i32 lane. On other targets
// this translation unit only supplies the "not available" answer.
//
// A 32-byte block is two q registers: bytes 0-15 hold weights 32j + 0..15 of
// run j, bytes 16-31 weights 32j + 16..31.
#include "kernels/w2a8.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD) && defined(__linux__)
#include <arm_neon.h>
#include <sys/auxv.h>

#include <algorithm>

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  // Linux arm64 uapi value
#endif

namespace bitnet {
namespace {

struct BlockCodes {
  int8x16_t u[4][2];  // [run][half]
};

inline BlockCodes UnpackBlock(const uint8_t* p) {
  const uint8x16_t mask3 = vdupq_n_u8(3);
  const uint8x16_t lo = vld1q_u8(p), hi = vld1q_u8(p + 16);
  BlockCodes c;
  c.u[0][0] = vreinterpretq_s8_u8(vshrq_n_u8(lo, 6));
  c.u[0][1] = vreinterpretq_s8_u8(vshrq_n_u8(hi, 6));
  c.u[1][0] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(lo, 4), mask3));
  c.u[1][1] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(hi, 4), mask3));
  c.u[2][0] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(lo, 2), mask3));
  c.u[2][1] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(hi, 2), mask3));
  c.u[3][0] = vreinterpretq_s8_u8(vandq_u8(lo, mask3));
  c.u[3][1] = vreinterpretq_s8_u8(vandq_u8(hi, mask3));
  return c;
}

// acc += codes . x over one block (x points at the block's 128 activations).
inline int32x4_t BlockDot(int32x4_t acc, const BlockCodes& c, const int8_t* x) {
  for (int run = 0; run < 4; ++run) {
    acc = vdotq_s32(acc, c.u[run][0], vld1q_s8(x + 32 * run));
    acc = vdotq_s32(acc, c.u[run][1], vld1q_s8(x + 32 * run + 16));
  }
  return acc;
}

void MatVecNeon(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end, const int8_t* x, int32_t x_sum,
                int32_t* y) {
  const int64_t blocks = w.cols_padded / kTernaryBlock;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* p = w.row(r);
    int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0);
    int64_t b = 0;
    // Two independent chains so consecutive sdots do not wait on each other.
    for (; b + 2 <= blocks; b += 2) {
      acc0 = BlockDot(acc0, UnpackBlock(p + b * kTernaryBlockBytes), x + b * kTernaryBlock);
      acc1 = BlockDot(acc1, UnpackBlock(p + (b + 1) * kTernaryBlockBytes), x + (b + 1) * kTernaryBlock);
    }
    if (b < blocks) acc0 = BlockDot(acc0, UnpackBlock(p + b * kTernaryBlockBytes), x + b * kTernaryBlock);
    y[r - row_begin] = vaddvq_s32(vaddq_s32(acc0, acc1)) - x_sum;
  }
}

// Prefill: each block is unpacked once per row and reused for up to 4 tokens.
void MatMulNeon(const TernaryMatrixView& w, int64_t row_begin, int64_t row_end, const int8_t* x,
                const int32_t* x_sums, int n, int32_t* y, int64_t y_stride) {
  constexpr int kTokens = 4;
  const int64_t blocks = w.cols_padded / kTernaryBlock;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* p = w.row(r);
    for (int t0 = 0; t0 < n; t0 += kTokens) {
      const int tokens = std::min(kTokens, n - t0);
      int32x4_t acc[kTokens] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
      for (int64_t b = 0; b < blocks; ++b) {
        const BlockCodes c = UnpackBlock(p + b * kTernaryBlockBytes);
        for (int t = 0; t < tokens; ++t)
          acc[t] = BlockDot(acc[t], c, x + (t0 + t) * w.cols_padded + b * kTernaryBlock);
      }
      for (int t = 0; t < tokens; ++t) y[(t0 + t) * y_stride + r] = vaddvq_s32(acc[t]) - x_sums[t0 + t];
    }
  }
}

}  // namespace

const W2A8Kernels* NeonDotW2A8Kernels() {
  static const W2A8Kernels kernels{KernelIsa::kNeonDot, "neon", MatVecNeon, MatMulNeon};
  static const bool runnable = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
  return runnable ? &kernels : nullptr;
}

}  // namespace bitnet

#else

namespace bitnet {
const W2A8Kernels* NeonDotW2A8Kernels() { return nullptr; }
}  // namespace bitnet

#endif
