// Attention over a key/value cache whose rows are fp16 or f32: the scores of
// a few query heads against one KV head's keys, and the probability-weighted
// sum of its values. k and v point at position 0 of the head; position p's row
// of dim elements starts row_stride elements further.
//
// Float results: the SIMD sums run in a different order from the scalar loop,
// so they agree with a double-precision reference to about 1e-6 relative.
#pragma once
#include <cstdint>

namespace bitnet {

enum class KvElement { kF32, kF16 };

// scores[g * stride + p] = scale * dot(q[g * dim ..], k[p * row_stride ..]) for g < n_q, p < n.
void AttentionScores(const float* q, int n_q, const void* k, KvElement type, int64_t row_stride, int64_t n, int dim,
                     float scale, float* scores, int64_t stride);

// out[g * dim + d] = sum_p probs[g * stride + p] * v[p * row_stride + d] for g < n_q, d < dim.
void AttentionValues(const float* probs, int n_q, int64_t stride, const void* v, KvElement type, int64_t row_stride,
                     int64_t n, int dim, float* out);

// dst[i] = fp16(src[i]) (round to nearest even) for i < n.
void F32ToF16Row(const float* src, int64_t n, uint16_t* dst);

}  // namespace bitnet
