#include "kernels/dense.h"

#include "util/half.h"

namespace bitnet {

const char* DenseTypeName(DenseType t) {
  switch (t) {
    case DenseType::kF32: return "f32";
    case DenseType::kBf16: return "bf16";
    case DenseType::kF16: return "f16";
    case DenseType::kI8Row: return "int8";
  }
  return "?";
}

void DenseRow(const DenseMatrixView& m, int64_t r, float* out) {
  const int64_t n = m.cols;
  switch (m.type) {
    case DenseType::kF32: {
      const float* p = static_cast<const float*>(m.data) + r * n;
      for (int64_t c = 0; c < n; ++c) out[c] = p[c];
      break;
    }
    case DenseType::kBf16: {
      const uint16_t* p = static_cast<const uint16_t*>(m.data) + r * n;
      for (int64_t c = 0; c < n; ++c) out[c] = Bf16ToF32(p[c]);
      break;
    }
    case DenseType::kF16: {
      const uint16_t* p = static_cast<const uint16_t*>(m.data) + r * n;
      for (int64_t c = 0; c < n; ++c) out[c] = F16ToF32(p[c]);
      break;
    }
    case DenseType::kI8Row: {
      const int8_t* p = static_cast<const int8_t*>(m.data) + r * n;
      const float s = m.row_scales[r];
      for (int64_t c = 0; c < n; ++c) out[c] = p[c] * s;
      break;
    }
  }
}

void MatVecDense(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const float* x, float* y) {
  const int64_t n = m.cols;
  for (int64_t r = row_begin; r < row_end; ++r) {
    float acc = 0.0f;
    switch (m.type) {
      case DenseType::kF32: {
        const float* p = static_cast<const float*>(m.data) + r * n;
        for (int64_t c = 0; c < n; ++c) acc += p[c] * x[c];
        break;
      }
      case DenseType::kBf16: {
        const uint16_t* p = static_cast<const uint16_t*>(m.data) + r * n;
        for (int64_t c = 0; c < n; ++c) acc += Bf16ToF32(p[c]) * x[c];
        break;
      }
      case DenseType::kF16: {
        const uint16_t* p = static_cast<const uint16_t*>(m.data) + r * n;
        for (int64_t c = 0; c < n; ++c) acc += F16ToF32(p[c]) * x[c];
        break;
      }
      case DenseType::kI8Row: {
        const int8_t* p = static_cast<const int8_t*>(m.data) + r * n;
        for (int64_t c = 0; c < n; ++c) acc += p[c] * x[c];
        acc *= m.row_scales[r];
        break;
      }
    }
    y[r - row_begin] = acc;
  }
}

}  // namespace bitnet
