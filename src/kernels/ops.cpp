#include "kernels/ops.h"

#include "kernels/dispatch.h"
#include "kernels/dispatch_fill.h"

#include <algorithm>
#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace bitnet {
namespace {

void RmsNormScalar(const float* x, const float* w, int64_t n, float eps, float* out) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * w[i];
}

}  // namespace

RopeTable::RopeTable(int head_dim_in, double theta) : head_dim(head_dim_in), inv_freq(head_dim_in / 2) {
  for (int i = 0; i < head_dim / 2; ++i)
    inv_freq[i] = 1.0 / std::pow(theta, (2.0 * i) / head_dim);
}

void RopeTable::Angles(int pos, float* cos_out, float* sin_out) const {
  for (int i = 0; i < head_dim / 2; ++i) {
    const double angle = static_cast<double>(pos) * inv_freq[i];
    cos_out[i] = static_cast<float>(std::cos(angle));
    sin_out[i] = static_cast<float>(std::sin(angle));
  }
}

namespace {

void ApplyRopeScalar(float* heads, int n_heads, int head_dim, const float* cos, const float* sin) {
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = heads + static_cast<int64_t>(h) * head_dim;
    for (int i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * cos[i] - b * sin[i];
      v[i + half] = b * cos[i] + a * sin[i];
    }
  }
}

void SiluGateScalar(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void SoftmaxScalar(float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void Relu2GateScalar(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = std::max(gate[i], 0.0f);
    out[i] = g * g * up[i];
  }
}

float DotF32Scalar(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

#if defined(__x86_64__)
namespace {

[[gnu::target("avx2,fma")]] float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

[[gnu::target("avx2,fma")]] float HorizontalMax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Squares of floats are exact in double, so only the order of the additions
// differs from the scalar loop: the sum, and hence inv, can differ in the
// last bit of a double, which reaches the float inv only in rare ties.
[[gnu::target("avx2,fma")]] void RmsNormAvx2(const float* x, const float* w, int64_t n, float eps, float* out) {
  __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 4; ++j) {
      const __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4 * j));
      acc[j] = _mm256_fmadd_pd(d, d, acc[j]);
    }
  const __m256d sum4 = _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]));
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, sum4);
  double ss = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  // (x * inv) * w, in the scalar code's order, so out is exact given inv.
  const __m256 vinv = _mm256_set1_ps(inv);
  i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinv), _mm256_loadu_ps(w + i)));
  for (; i < n; ++i) out[i] = x[i] * inv * w[i];
}

// exp(x) for float lanes, Cephes' expf scheme: x = k ln2 + r with |r| <= ln2/2,
// a degree-6 polynomial for e^r, then 2^k through the exponent bits. About
// 2 ulp; inputs below -87.3 (including -inf) give exactly 0 like expf's
// underflow, inputs above 88 are taken as 88 (softmax only passes x <= 0).
[[gnu::target("avx2,fma")]] __m256 Exp8(__m256 x) {
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33654f), _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33654f)), _mm256_set1_ps(88.0f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500E-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i pow2k = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  const __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(pow2k));
  return _mm256_andnot_ps(underflow, result);
}

[[gnu::target("avx2,fma")]] void SoftmaxAvx2(float* x, int64_t n) {
  int64_t i = 0;
  __m256 vmax = _mm256_set1_ps(x[0]);
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float mx = HorizontalMax(vmax);
  for (; i < n; ++i) mx = std::max(mx, x[i]);
  const __m256 vmx = _mm256_set1_ps(mx);
  __m256 vsum = _mm256_setzero_ps();
  i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = Exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
    _mm256_storeu_ps(x + i, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  float sum = HorizontalSum(vsum);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  const __m256 vinv = _mm256_set1_ps(inv);
  i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
  for (; i < n; ++i) x[i] *= inv;
}

// Same operations in the same order as the scalar loop: bit-identical.
[[gnu::target("avx2,fma")]] void Relu2GateAvx2(const float* gate, const float* up, int64_t n, float* out) {
  const __m256 zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_max_ps(_mm256_loadu_ps(gate + i), zero);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(g, g), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) {
    const float g = std::max(gate[i], 0.0f);
    out[i] = g * g * up[i];
  }
}

[[gnu::target("avx2,fma")]] float DotF32Avx2(const float* a, const float* b, int64_t n) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 4; ++j)
      acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * j), _mm256_loadu_ps(b + i + 8 * j), acc[j]);
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc[0]);
  float s = HorizontalSum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace
#endif

namespace dispatch_fill {

void AddScalarOps(KernelTable& t) {
  t.rms_norm = {RmsNormScalar, KernelIsa::kScalar};
  t.softmax = {SoftmaxScalar, KernelIsa::kScalar};
  t.relu2_gate = {Relu2GateScalar, KernelIsa::kScalar};
  t.silu_gate = {SiluGateScalar, KernelIsa::kScalar};
  t.dot_f32 = {DotF32Scalar, KernelIsa::kScalar};
  t.apply_rope = {ApplyRopeScalar, KernelIsa::kScalar};
}

#if defined(__x86_64__)
void AddAvx2Ops(KernelTable& t) {
  t.rms_norm = {RmsNormAvx2, KernelIsa::kAvx2};
  t.softmax = {SoftmaxAvx2, KernelIsa::kAvx2};
  t.relu2_gate = {Relu2GateAvx2, KernelIsa::kAvx2};
  t.dot_f32 = {DotF32Avx2, KernelIsa::kAvx2};
}
#endif

}  // namespace dispatch_fill

void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out) {
  ActiveKernels().rms_norm.fn(x, w, n, eps, out);
}

void Softmax(float* x, int64_t n) { ActiveKernels().softmax.fn(x, n); }

void Relu2Gate(const float* gate, const float* up, int64_t n, float* out) {
  ActiveKernels().relu2_gate.fn(gate, up, n, out);
}

void SiluGate(const float* gate, const float* up, int64_t n, float* out) {
  ActiveKernels().silu_gate.fn(gate, up, n, out);
}

float DotF32(const float* a, const float* b, int64_t n) { return ActiveKernels().dot_f32.fn(a, b, n); }

void ApplyRope(float* heads, int n_heads, int head_dim, const float* cos, const float* sin) {
  ActiveKernels().apply_rope.fn(heads, n_heads, head_dim, cos, sin);
}

}  // namespace bitnet
