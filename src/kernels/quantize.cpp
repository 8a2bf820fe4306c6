#include "kernels/quantize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/dispatch.h"
#include "kernels/dispatch_fill.h"
#include "kernels/ops.h"
#include "kernels/quantize_steps.h"

namespace bitnet {
namespace {

float QuantizeScalar(const float* x, int64_t n, int64_t n_padded, int8_t* xq, int32_t* sum) {
  float max_abs = 0.0f;
  for (int64_t i = 0; i < n; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
  const float a = quantize_steps::ScaleOf(max_abs);
  *sum = quantize_steps::QuantizeTail(x, 0, n, n_padded, a, xq);
  return a;
}

#if defined(__x86_64__)

// Eight lanes of round-half-to-even(x * a) clamped to [-128, 127]; adds them to vsum.
[[gnu::target("avx2")]] inline __m256i Quantize8(const float* p, __m256 a, __m256i& vsum) {
  const __m256 q = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(p), a), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256i qi = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(q, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(127.0f)));
  vsum = _mm256_add_epi32(vsum, qi);
  return qi;
}

// The scalar steps, lane by lane: the same float product x * a, the same
// round-half-to-even, the same clamp, so xq is identical for every input.
// The max is order-independent, and the sum is exact integer addition.
[[gnu::target("avx2")]] float QuantizeAvx2(const float* x, int64_t n, int64_t n_padded, int8_t* xq, int32_t* sum) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 vmax = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  float max_abs = _mm_cvtss_f32(m4);
  for (; i < n; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
  const float a = quantize_steps::ScaleOf(max_abs);

  const __m256 va = _mm256_set1_ps(a);
  // packs interleave 128-bit lanes; this puts the 32 bytes back in order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  __m256i vsum = _mm256_setzero_si256();
  i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i q0 = Quantize8(x + i, va, vsum), q1 = Quantize8(x + i + 8, va, vsum), q2 = Quantize8(x + i + 16, va, vsum),
                  q3 = Quantize8(x + i + 24, va, vsum);
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(xq + i), _mm256_permutevar8x32_epi32(bytes, order));
  }
  __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(vsum), _mm256_extracti128_si256(vsum, 1));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
  *sum = _mm_cvtsi128_si32(s4) + quantize_steps::QuantizeTail(x, i, n, n_padded, a, xq);
  return a;
}

#endif

}  // namespace

namespace dispatch_fill {

void AddScalarQuantize(KernelTable& t) { t.quantize_int8 = {QuantizeScalar, KernelIsa::kScalar}; }

#if defined(__x86_64__)
void AddAvx2Quantize(KernelTable& t) { t.quantize_int8 = {QuantizeAvx2, KernelIsa::kAvx2}; }
#endif

}  // namespace dispatch_fill

float QuantizeActivationsInt8(const float* x, int64_t n, int64_t n_padded, int8_t* xq, int32_t* sum) {
  return ActiveKernels().quantize_int8.fn(x, n, n_padded, xq, sum);
}

// Exactly RmsNorm then QuantizeActivationsInt8 (the active table's variants), through a per-thread buffer so the per-layer call never allocates.
float RmsNormQuantizeInt8(const float* x, const float* w, int64_t n, float eps, int64_t n_padded, int8_t* xq,
                          int32_t* sum) {
  thread_local std::vector<float> normed;
  if (normed.size() < static_cast<size_t>(n)) normed.resize(static_cast<size_t>(n));
  const KernelTable& k = ActiveKernels();
  k.rms_norm.fn(x, w, n, eps, normed.data());
  return k.quantize_int8.fn(normed.data(), n, n_padded, xq, sum);
}

float TernarizeAbsmean(const float* w, int64_t n, int8_t* t) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += std::fabs(static_cast<double>(w[i]));
  const float s = std::max(static_cast<float>(n > 0 ? total / static_cast<double>(n) : 0.0), kQuantEps);
  const float inv = 1.0f / s;
  for (int64_t i = 0; i < n; ++i) t[i] = static_cast<int8_t>(std::clamp(std::nearbyint(w[i] * inv), -1.0f, 1.0f));
  return s;
}

}  // namespace bitnet
