#include "kernels/attention.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/cpu_features.h"
#include "util/half.h"

namespace bitnet {
namespace {

inline float ElementOf(const void* base, KvElement type, int64_t i) {
  return type == KvElement::kF16 ? F16ToF32(static_cast<const uint16_t*>(base)[i]) : static_cast<const float*>(base)[i];
}

void ScoresScalar(const float* q, int n_q, const void* k, KvElement type, int64_t row_stride, int64_t n, int dim, float scale,
                  float* scores, int64_t stride) {
  for (int g = 0; g < n_q; ++g)
    for (int64_t p = 0; p < n; ++p) {
      float s = 0.0f;
      for (int d = 0; d < dim; ++d) s += q[g * dim + d] * ElementOf(k, type, p * row_stride + d);
      scores[g * stride + p] = s * scale;
    }
}

void ValuesScalar(const float* probs, int n_q, int64_t stride, const void* v, KvElement type, int64_t row_stride, int64_t n, int dim,
                  float* out) {
  for (int g = 0; g < n_q; ++g) {
    float* o = out + static_cast<int64_t>(g) * dim;
    std::fill(o, o + dim, 0.0f);
    for (int64_t p = 0; p < n; ++p) {
      const float w = probs[g * stride + p];
      for (int d = 0; d < dim; ++d) o[d] += w * ElementOf(v, type, p * row_stride + d);
    }
  }
}

#if defined(__x86_64__)

bool CpuHasAvx2F16c() {
  static const bool has =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && CpuHasF16c();
  return has;
}

template <KvElement kType>
[[gnu::target("avx2,fma,f16c")]] inline __m256 Load8(const void* base, int64_t i) {
  if constexpr (kType == KvElement::kF16)
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i)));
  else
    return _mm256_loadu_ps(static_cast<const float*>(base) + i);
}

[[gnu::target("avx2,fma")]] inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Up to kMaxHeads query heads share each key load (GQA: 4 query heads per KV head).
constexpr int kMaxHeads = 4;

// Two positions per pass: each query load feeds two FMAs, which halves the
// loads that bound this loop (the 4 heads' queries, 2 KB, do not fit in
// registers). kHeads x 2 accumulators; the sums run in the same order for
// each position as in the one-position tail, so results do not depend on
// which positions are paired.
template <KvElement kType, int kHeads>
[[gnu::target("avx2,fma,f16c")]] void ScoresAvx2(const float* q, const void* k, int64_t row_stride, int64_t n,
                                                int dim, float scale, float* scores, int64_t stride) {
  int64_t p = 0;
  for (; p + 2 <= n; p += 2) {
    __m256 acc[kHeads][2];
    for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
    for (int d = 0; d < dim; d += 8) {
      const __m256 k0 = Load8<kType>(k, p * row_stride + d), k1 = Load8<kType>(k, (p + 1) * row_stride + d);
      for (int g = 0; g < kHeads; ++g) {
        const __m256 qv = _mm256_loadu_ps(q + g * dim + d);
        acc[g][0] = _mm256_fmadd_ps(qv, k0, acc[g][0]);
        acc[g][1] = _mm256_fmadd_ps(qv, k1, acc[g][1]);
      }
    }
    for (int g = 0; g < kHeads; ++g) {
      scores[g * stride + p] = HorizontalSum(acc[g][0]) * scale;
      scores[g * stride + p + 1] = HorizontalSum(acc[g][1]) * scale;
    }
  }
  for (; p < n; ++p) {
    __m256 acc[kHeads];
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (int d = 0; d < dim; d += 8) {
      const __m256 k0 = Load8<kType>(k, p * row_stride + d);
      for (int g = 0; g < kHeads; ++g) acc[g] = _mm256_fmadd_ps(_mm256_loadu_ps(q + g * dim + d), k0, acc[g]);
    }
    for (int g = 0; g < kHeads; ++g) scores[g * stride + p] = HorizontalSum(acc[g]) * scale;
  }
}

// Accumulates a 32-wide slice of the output for each head in registers while
// the values stream by, so each value row is converted once per slice.
template <KvElement kType, int kHeads>
[[gnu::target("avx2,fma,f16c")]] void ValuesAvx2(const float* probs, int64_t stride, const void* v, int64_t row_stride, int64_t n,
                                                int dim, float* out) {
  for (int d = 0; d < dim; d += 32) {
    __m256 acc[kHeads][4];
    for (auto& a : acc) a[0] = a[1] = a[2] = a[3] = _mm256_setzero_ps();
    for (int64_t p = 0; p < n; ++p) {
      const __m256 v0 = Load8<kType>(v, p * row_stride + d), v1 = Load8<kType>(v, p * row_stride + d + 8),
                   v2 = Load8<kType>(v, p * row_stride + d + 16), v3 = Load8<kType>(v, p * row_stride + d + 24);
      for (int g = 0; g < kHeads; ++g) {
        const __m256 w = _mm256_broadcast_ss(probs + g * stride + p);
        acc[g][0] = _mm256_fmadd_ps(w, v0, acc[g][0]);
        acc[g][1] = _mm256_fmadd_ps(w, v1, acc[g][1]);
        acc[g][2] = _mm256_fmadd_ps(w, v2, acc[g][2]);
        acc[g][3] = _mm256_fmadd_ps(w, v3, acc[g][3]);
      }
    }
    for (int g = 0; g < kHeads; ++g)
      for (int j = 0; j < 4; ++j) _mm256_storeu_ps(out + static_cast<int64_t>(g) * dim + d + 8 * j, acc[g][j]);
  }
}

template <KvElement kType>
[[gnu::target("avx2,fma,f16c")]] void ScoresHeads(const float* q, int n_q, const void* k, int64_t row_stride, int64_t n, int dim,
                                                 float scale, float* scores, int64_t stride) {
  for (int g = 0; g < n_q; g += kMaxHeads) {
    const float* qg = q + static_cast<int64_t>(g) * dim;
    float* sg = scores + g * stride;
    switch (std::min(kMaxHeads, n_q - g)) {
      case 1: ScoresAvx2<kType, 1>(qg, k, row_stride, n, dim, scale, sg, stride); break;
      case 2: ScoresAvx2<kType, 2>(qg, k, row_stride, n, dim, scale, sg, stride); break;
      case 3: ScoresAvx2<kType, 3>(qg, k, row_stride, n, dim, scale, sg, stride); break;
      default: ScoresAvx2<kType, 4>(qg, k, row_stride, n, dim, scale, sg, stride); break;
    }
  }
}

template <KvElement kType>
[[gnu::target("avx2,fma,f16c")]] void ValuesHeads(const float* probs, int n_q, int64_t stride, const void* v,
                                                 int64_t row_stride, int64_t n, int dim, float* out) {
  // Three heads at a time: 12 accumulators + 4 value vectors + 1 weight fit
  // the 16 ymm registers.
  constexpr int kStep = 3;
  for (int g = 0; g < n_q; g += kStep) {
    const float* pg = probs + g * stride;
    float* og = out + static_cast<int64_t>(g) * dim;
    switch (std::min(kStep, n_q - g)) {
      case 1: ValuesAvx2<kType, 1>(pg, stride, v, row_stride, n, dim, og); break;
      case 2: ValuesAvx2<kType, 2>(pg, stride, v, row_stride, n, dim, og); break;
      default: ValuesAvx2<kType, 3>(pg, stride, v, row_stride, n, dim, og); break;
    }
  }
}

[[gnu::target("avx2,f16c")]] void F32ToF16RowF16c(const float* src, int64_t n, uint16_t* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) dst[i] = F32ToF16(src[i]);
}

#endif

}  // namespace

void AttentionScores(const float* q, int n_q, const void* k, KvElement type, int64_t row_stride, int64_t n, int dim, float scale,
                     float* scores, int64_t stride) {
#if defined(__x86_64__)
  if (CpuHasAvx2F16c() && dim % 32 == 0) {
    if (type == KvElement::kF16) return ScoresHeads<KvElement::kF16>(q, n_q, k, row_stride, n, dim, scale, scores, stride);
    return ScoresHeads<KvElement::kF32>(q, n_q, k, row_stride, n, dim, scale, scores, stride);
  }
#endif
  ScoresScalar(q, n_q, k, type, row_stride, n, dim, scale, scores, stride);
}

void AttentionValues(const float* probs, int n_q, int64_t stride, const void* v, KvElement type, int64_t row_stride, int64_t n, int dim,
                     float* out) {
#if defined(__x86_64__)
  if (CpuHasAvx2F16c() && dim % 32 == 0) {
    if (type == KvElement::kF16) return ValuesHeads<KvElement::kF16>(probs, n_q, stride, v, row_stride, n, dim, out);
    return ValuesHeads<KvElement::kF32>(probs, n_q, stride, v, row_stride, n, dim, out);
  }
#endif
  ValuesScalar(probs, n_q, stride, v, type, row_stride, n, dim, out);
}

void F32ToF16Row(const float* src, int64_t n, uint16_t* dst) {
#if defined(__x86_64__)
  if (CpuHasAvx2F16c()) return F32ToF16RowF16c(src, n, dst);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = F32ToF16(src[i]);
}

}  // namespace bitnet
