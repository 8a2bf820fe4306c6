// The scalar steps of the per-token int8 quantizer (quantize.h), shared by
// every variant so the SIMD ones handle their tails exactly like the scalar
// oracle. Internal to the kernels library.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/quantize.h"

namespace bitnet::quantize_steps {

// The scale that maps the largest magnitude to 127.
inline float ScaleOf(float max_abs) { return 127.0f / std::max(max_abs, kQuantEps); }

// xq[i] = round-half-to-even(x[i] * a) clamped to [-128, 127] for i in
// [begin, n), zeros on to n_padded; returns the sum of the values written.
// nearbyint rounds half to even in the default rounding mode, like torch.round.
inline int32_t QuantizeTail(const float* x, int64_t begin, int64_t n, int64_t n_padded, float a, int8_t* xq) {
  int32_t s = 0;
  for (int64_t i = begin; i < n; ++i) {
    xq[i] = static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * a), -128.0f, 127.0f));
    s += xq[i];
  }
  std::fill(xq + std::max(begin, n), xq + std::max(n, n_padded), int8_t{0});
  return s;
}

}  // namespace bitnet::quantize_steps
