// The float work of a BitNet layer on a "vector" core (npu/designs/
// bitnet_layer.py), shared by the AIE kernel (bitnet_vector.cc) and the host
// emulator: RMSNorm with weight, per-token absmax int8 quantization (the
// CPU's formula, src/kernels/quantize.h), ReLU^2(gate) * up and the residual
// add. It owns the layout of the core-local state buffer and of the objects
// it exchanges (VecInputPair, HostRecord), which the host packing
// (src/backend/npu/npu_layer.cpp) uses.
//
// Plain scalar float code: it uses no aie_api operation, so nothing here
// depends on an unverified aie_api mode. Unverified instead: how fast Peano's
// scalar float code runs on the core (we expect library routines, not a
// scalar FPU); vectorizing with aie::vector<float, 16> is open, docs/NPU.md. Every result is a fixed
// sequence of IEEE float operations, so the host build computes exactly what
// the core would; the sums of squares run in kVecLanes partial sums, as a
// vector version would.
#pragma once
#include <stdint.h>

#include "w2a8_tile.h"

namespace bitnet_npu {

inline constexpr int kVecChunk = kKChunk;       // elements normed per input object (= a K chunk)
inline constexpr int kVecLanes = 16;            // partial sums of squares (one float vector)
// Longest vector the state holds: 27 K chunks, the 2B model's FFN width
// (6912, down_proj's K); the state is then 34 KiB of the core's 64 KiB.
inline constexpr int kVecMaxWidth = 6912;
inline constexpr int kVecMaxChunks = kVecMaxWidth / kVecChunk;

// Input object (2 KiB): one chunk of the vector to norm and its norm weights.
inline constexpr int kVecInputFloats = 2 * kVecChunk;
constexpr int VecInputX(int i) { return i; }              // x[chunk * 256 + i]
constexpr int VecInputWeight(int i) { return kVecChunk + i; }  // g[chunk * 256 + i]

// Host record (1 KiB) the core sends back per dispatch: first the statistics,
// then one record per K chunk with its 256 quantized activations in order
// (what the matmul cores received, so their int32 results stay checkable).
inline constexpr int kHostRecordBytes = 1024;
struct HostStats {        // bytes 0..15 of the first record
  float scale;            // a = 127 / max(max|normed|, 1e-5): y = acc * s_w / a
  int32_t sum;            // sum of the quantized activations
  float inv_rms;          // 1 / sqrt(mean(x^2) + eps)
  int32_t width;          // live elements
};

// Core-local state (aligned to 64 bytes by the design's buffer type).
struct VecState {
  int32_t width;          // live elements of the vector being normed
  int32_t chunks_in;      // input chunks taken so far
  int32_t chunks;         // K chunks of the quantized vector (set by finish)
  int32_t emitted;        // activation objects emitted (wraps every `chunks`)
  int32_t host_emitted;   // q records sent to the host
  float eps;
  float scale;
  float inv_rms;
  int32_t sum;
  int32_t pad[7];
  float ss[kVecLanes];            // partial sums of x^2
  float max_abs;                  // max |x * g| (the norm's inv_rms > 0 does not change the arg max)
  float pad2[15];
  float xg[kVecMaxWidth];         // x * g of the live elements, 0 past them
  int8_t q[kVecMaxWidth];         // quantized normed vector, 0 past the live elements
};
inline constexpr int kVecStateBytes = static_cast<int>(sizeof(VecState));

// Round half to even for |v| <= 2^22, by the float adder itself (default
// rounding mode): the same as nearbyint there, with no libm call on the core.
inline float RoundHalfEven(float v) {
  const float magic = 12582912.0f;  // 1.5 * 2^23
  return (v + magic) - magic;       // not folded: IEEE semantics (no -ffast-math) on both builds
}

inline float InvSqrt(float v) {
  // 1/sqrt by Newton steps from the exponent-halving guess: fixed float
  // operations, the same on the core and the host (no libm, no rsqrt
  // instruction whose precision differs per target).
  union {
    float f;
    uint32_t u;
  } b{v};
  b.u = 0x5f3759dfu - (b.u >> 1);
  float y = b.f;
  for (int i = 0; i < 4; ++i) y = y * (1.5f - 0.5f * v * y * y);
  return y;
}

inline void VecBegin(VecState* s, int32_t width, int32_t eps_bits) {
  union {
    int32_t i;
    float f;
  } e{eps_bits};
  s->width = width;
  s->eps = e.f;
  s->chunks_in = s->chunks = s->emitted = s->host_emitted = 0;
  s->scale = s->inv_rms = 0.0f;
  s->sum = 0;
  for (int l = 0; l < kVecLanes; ++l) s->ss[l] = 0.0f;
  s->max_abs = 0.0f;
}

// Takes one input object: x * g into the state, x^2 into the partial sums.
inline void VecNormChunk(VecState* s, const float* in) {
  const int base = s->chunks_in * kVecChunk;
  if (base + kVecChunk > kVecMaxWidth) return;  // a bad count: a wrong result, not a memory fault
  for (int i = 0; i < kVecChunk; ++i) {
    const bool live = base + i < s->width;
    const float x = live ? in[VecInputX(i)] : 0.0f;
    const float xg = x * (live ? in[VecInputWeight(i)] : 0.0f);
    s->ss[i % kVecLanes] += x * x;
    s->xg[base + i] = xg;
    const float a = xg < 0.0f ? -xg : xg;
    if (a > s->max_abs) s->max_abs = a;
  }
  ++s->chunks_in;
}

// After the last chunk: inv_rms, the quantization scale and q; writes the
// statistics record for the host.
inline void VecFinish(VecState* s, uint8_t* record) {
  float ss = 0.0f;
  for (int w = kVecLanes / 2; w >= 1; w /= 2)  // pairwise, as a vector reduction
    for (int l = 0; l < w; ++l) s->ss[l] = s->ss[l] + s->ss[l + w];
  ss = s->ss[0];
  const float inv = InvSqrt(ss / static_cast<float>(s->width) + s->eps);
  // normed = (x * g) * inv; its absmax is inv * max|x * g| (rounding is monotonic).
  const float max_normed = s->max_abs * inv;
  const float a = 127.0f / (max_normed > 1e-5f ? max_normed : 1e-5f);
  int32_t sum = 0;
  const int n = s->chunks_in * kVecChunk;
  for (int i = 0; i < n; ++i) {
    float v = (s->xg[i] * inv) * a;
    v = v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v);  // clamp, then round: the same for integer bounds
    const auto q = static_cast<int8_t>(RoundHalfEven(v));
    s->q[i] = q;
    sum += q;
  }
  s->inv_rms = inv;
  s->scale = a;
  s->sum = sum;
  s->chunks = s->chunks_in;
  for (int i = 0; i < kHostRecordBytes; ++i) record[i] = 0;
  HostStats st{a, sum, inv, s->width};
  __builtin_memcpy(record, &st, sizeof(st));
}

// The next K chunk of q as the matmul cores' activation object (token 0 live,
// XByte order); cycles through the chunks, once per row tile.
inline void VecEmitActivations(VecState* s, int8_t* x) {
  if (s->chunks <= 0) return;
  const int chunk = s->emitted % s->chunks;
  for (int t = 0; t < kMaxTokens; ++t)
    for (int k = 0; k < kKChunk; ++k) x[XByte(t, k)] = t == 0 ? s->q[chunk * kKChunk + k] : int8_t{0};
  ++s->emitted;
}

// The next K chunk of q for the host (bytes 0..255, in order; the rest 0).
inline void VecEmitHost(VecState* s, uint8_t* record) {
  const int chunk = s->host_emitted < s->chunks ? s->host_emitted : 0;
  for (int i = 0; i < kHostRecordBytes; ++i) record[i] = 0;
  for (int k = 0; k < kKChunk; ++k) record[k] = static_cast<uint8_t>(s->q[chunk * kKChunk + k]);
  ++s->host_emitted;
}

// h[i] += acc[i] * k, k = s_w / a: the model's dequantization, then the residual.
inline void VecResidual(float* h, const int32_t* acc, int n, float w_scale, float a) {
  const float k = w_scale / a;
  for (int i = 0; i < n; ++i) h[i] += static_cast<float>(acc[i]) * k;
}

// out[i] = relu(gate)^2 * up with gate = acc_gate * kg, up = acc_up * ku.
inline void VecRelu2Up(const int32_t* acc_gate, const int32_t* acc_up, int n, float gate_scale, float up_scale, float a,
                       float* out) {
  const float kg = gate_scale / a, ku = up_scale / a;
  for (int i = 0; i < n; ++i) {
    float g = static_cast<float>(acc_gate[i]) * kg;
    g = g > 0.0f ? g : 0.0f;
    out[i] = g * g * (static_cast<float>(acc_up[i]) * ku);
  }
}

}  // namespace bitnet_npu
