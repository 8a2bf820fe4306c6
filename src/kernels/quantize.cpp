#include "kernels/quantize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/ops.h"

namespace bitnet {

float QuantizeActivationsInt8(const float* x, int64_t n, int64_t n_padded, int8_t* xq, int32_t* sum) {
  float max_abs = 0.0f;
  for (int64_t i = 0; i < n; ++i) max_abs = std::max(max_abs, std::fabs(x[i]));
  const float a = 127.0f / std::max(max_abs, kQuantEps);
  int32_t s = 0;
  for (int64_t i = 0; i < n; ++i) {
    // nearbyint rounds half to even in the default rounding mode, like torch.round.
    const float q = std::clamp(std::nearbyint(x[i] * a), -128.0f, 127.0f);
    xq[i] = static_cast<int8_t>(q);
    s += xq[i];
  }
  for (int64_t i = n; i < n_padded; ++i) xq[i] = 0;
  *sum = s;
  return a;
}

float RmsNormQuantizeInt8(const float* x, const float* w, int64_t n, float eps, int64_t n_padded, int8_t* xq,
                          int32_t* sum) {
  std::vector<float> normed(static_cast<size_t>(n));
  RmsNorm(x, w, n, eps, normed.data());
  return QuantizeActivationsInt8(normed.data(), n, n_padded, xq, sum);
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
