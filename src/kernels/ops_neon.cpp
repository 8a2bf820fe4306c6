// NEON variants of the per-token float ops and the activation quantizer, for
// the neon kernel table. Plain Armv8-A (Advanced SIMD is part of the base
// architecture), so this file needs no extra flags; the table that hands
// these out exists only on CPUs with dotprod (dispatch.cpp).
//
// Exactness, as in the AVX2 variants (ops.cpp, quantize.cpp): the quantizer
// and ReLU² gate do the scalar code's operations in its order, lane by lane,
// so they are bit-identical; RMSNorm differs only in the order of exact
// double additions; softmax and the dot product are within the tolerances
// kernels_isa_test states.
#include "kernels/dispatch_fill.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include <algorithm>
#include <cmath>

#include "kernels/quantize_steps.h"

namespace bitnet {
namespace {

void RmsNormNeon(const float* x, const float* w, int64_t n, float eps, float* out) {
  float64x2_t acc[4] = {vdupq_n_f64(0.0), vdupq_n_f64(0.0), vdupq_n_f64(0.0), vdupq_n_f64(0.0)};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 4; ++j) {
      const float64x2_t d = vcvt_f64_f32(vld1_f32(x + i + 2 * j));
      acc[j] = vfmaq_f64(acc[j], d, d);  // squares of floats are exact in double
    }
  double ss = vaddvq_f64(vaddq_f64(vaddq_f64(acc[0], acc[1]), vaddq_f64(acc[2], acc[3])));
  for (; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  // (x * inv) * w, in the scalar code's order, so out is exact given inv.
  const float32x4_t vinv = vdupq_n_f32(inv);
  i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vmulq_f32(vmulq_f32(vld1q_f32(x + i), vinv), vld1q_f32(w + i)));
  for (; i < n; ++i) out[i] = x[i] * inv * w[i];
}

// exp(x) for four lanes by the scheme of the AVX2 Exp8 (ops.cpp): x = k ln2 + r,
// a degree-6 polynomial for e^r, 2^k through the exponent bits. Inputs below
// -87.3 give exactly 0, inputs above 88 are taken as 88.
float32x4_t Exp4(float32x4_t x) {
  const uint32x4_t underflow = vcltq_f32(x, vdupq_n_f32(-87.33654f));
  x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.33654f)), vdupq_n_f32(88.0f));
  const float32x4_t k = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(x, k, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, k, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500E-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507E-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073E-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894E-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459E-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201E-1f), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
  const int32x4_t pow2k = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23);
  const float32x4_t result = vmulq_f32(p, vreinterpretq_f32_s32(pow2k));
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(result), underflow));
}

void SoftmaxNeon(float* x, int64_t n) {
  int64_t i = 0;
  float32x4_t vmax = vdupq_n_f32(x[0]);
  for (; i + 4 <= n; i += 4) vmax = vmaxq_f32(vmax, vld1q_f32(x + i));
  float mx = vmaxvq_f32(vmax);
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  const float32x4_t vmx = vdupq_n_f32(mx);
  float32x4_t vsum = vdupq_n_f32(0.0f);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t e = Exp4(vsubq_f32(vld1q_f32(x + i), vmx));
    vst1q_f32(x + i, e);
    vsum = vaddq_f32(vsum, e);
  }
  float sum = vaddvq_f32(vsum);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  const float32x4_t vinv = vdupq_n_f32(inv);
  i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vmulq_f32(vld1q_f32(x + i), vinv));
  for (; i < n; ++i) x[i] *= inv;
}

void Relu2GateNeon(const float* gate, const float* up, int64_t n, float* out) {
  const float32x4_t zero = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t g = vmaxq_f32(vld1q_f32(gate + i), zero);
    vst1q_f32(out + i, vmulq_f32(vmulq_f32(g, g), vld1q_f32(up + i)));
  }
  for (; i < n; ++i) {
    const float g = std::max(gate[i], 0.0f);
    out[i] = g * g * up[i];
  }
}

float DotF32Neon(const float* a, const float* b, int64_t n) {
  float32x4_t acc[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 4; ++j) acc[j] = vfmaq_f32(acc[j], vld1q_f32(a + i + 4 * j), vld1q_f32(b + i + 4 * j));
  for (; i + 4 <= n; i += 4) acc[0] = vfmaq_f32(acc[0], vld1q_f32(a + i), vld1q_f32(b + i));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// The scalar quantizer's steps lane by lane: the same product x * a, the
// same round-half-to-even (vrndnq), the same clamp; the max is
// order-independent and the sum exact integer addition.
float QuantizeNeon(const float* x, int64_t n, int64_t n_padded, int8_t* xq, int32_t* sum) {
  float32x4_t vmax = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vmax = vmaxq_f32(vmax, vabsq_f32(vld1q_f32(x + i)));
  float max_abs = vmaxvq_f32(vmax);
  for (; i < n; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
  const float a = quantize_steps::ScaleOf(max_abs);
  const float32x4_t va = vdupq_n_f32(a), lo = vdupq_n_f32(-128.0f), hi = vdupq_n_f32(127.0f);
  int32x4_t vsum = vdupq_n_s32(0);
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const int32x4_t q0 = vcvtq_s32_f32(vminq_f32(vmaxq_f32(vrndnq_f32(vmulq_f32(vld1q_f32(x + i), va)), lo), hi));
    const int32x4_t q1 =
        vcvtq_s32_f32(vminq_f32(vmaxq_f32(vrndnq_f32(vmulq_f32(vld1q_f32(x + i + 4), va)), lo), hi));
    vsum = vaddq_s32(vsum, vaddq_s32(q0, q1));
    const int16x8_t h = vcombine_s16(vmovn_s32(q0), vmovn_s32(q1));
    vst1_s8(xq + i, vmovn_s16(h));
  }
  *sum = vaddvq_s32(vsum) + quantize_steps::QuantizeTail(x, i, n, n_padded, a, xq);
  return a;
}

}  // namespace

namespace dispatch_fill {
void AddNeonOps(KernelTable& t) {
  t.rms_norm = {RmsNormNeon, KernelIsa::kNeonDot};
  t.softmax = {SoftmaxNeon, KernelIsa::kNeonDot};
  t.relu2_gate = {Relu2GateNeon, KernelIsa::kNeonDot};
  t.dot_f32 = {DotF32Neon, KernelIsa::kNeonDot};
  t.quantize_int8 = {QuantizeNeon, KernelIsa::kNeonDot};
}
}  // namespace dispatch_fill

}  // namespace bitnet

#endif
