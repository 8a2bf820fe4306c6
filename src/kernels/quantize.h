// BitLinear's quantizers (docs/MODEL.md), in the exact published form.
#pragma once
#include <cstdint>

namespace bitnet {

inline constexpr float kQuantEps = 1e-5f;

// Per-token absmax int8: a = 127 / max(max|x|, 1e-5),
// xq[i] = clamp(round_half_to_even(x[i] * a), -128, 127) for i < n, and 0 for
// n <= i < n_padded. Returns a; *sum receives the sum of xq.
float QuantizeActivationsInt8(const float* x, int64_t n, int64_t n_padded, int8_t* xq, int32_t* sum);

// RmsNorm (ops.h) followed by QuantizeActivationsInt8, in one pass over x:
// the input of every BitLinear that follows a norm. Returns a.
float RmsNormQuantizeInt8(const float* x, const float* w, int64_t n, float eps, int64_t n_padded, int8_t* xq,
                          int32_t* sum);

// Absmean ternarization of a whole tensor: s = max(mean|w|, 1e-5),
// t[i] = clamp(round_half_to_even(w[i] * (1/s)), -1, 1). Returns s.
// The mean is accumulated in double so the result does not depend on the order.
float TernarizeAbsmean(const float* w, int64_t n, int8_t* t);

}  // namespace bitnet
