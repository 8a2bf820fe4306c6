#include "kernels/dense.h"

#include <algorithm>
#include <cmath>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/cpu_features.h"
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

namespace {

// The element of row pointer p at column c, as float (int8 unscaled).
float ElementAt(DenseType type, const void* p, int64_t c) {
  switch (type) {
    case DenseType::kF32: return static_cast<const float*>(p)[c];
    case DenseType::kBf16: return Bf16ToF32(static_cast<const uint16_t*>(p)[c]);
    case DenseType::kF16: return F16ToF32(static_cast<const uint16_t*>(p)[c]);
    case DenseType::kI8Row: return static_cast<const int8_t*>(p)[c];
  }
  return 0.0f;
}

const void* RowPointer(const DenseMatrixView& m, int64_t r) {
  return static_cast<const uint8_t*>(m.data) + r * m.cols * m.bytes_per_element();
}

float RowScale(const DenseMatrixView& m, int64_t r) { return m.type == DenseType::kI8Row ? m.row_scales[r] : 1.0f; }

void MatVecDenseScalar(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const float* x, float* y) {
  for (int64_t r = row_begin; r < row_end; ++r) {
    const void* p = RowPointer(m, r);
    float acc = 0.0f;
    for (int64_t c = 0; c < m.cols; ++c) acc += ElementAt(m.type, p, c) * x[c];
    y[r - row_begin] = acc * RowScale(m, r);
  }
}

#if defined(__x86_64__)

// Eight elements of a row starting at column c, widened to float.
template <DenseType kType>
[[gnu::target("avx2,fma,f16c")]] inline __m256 Load8(const void* p, int64_t c) {
  if constexpr (kType == DenseType::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(p) + c);
  } else if constexpr (kType == DenseType::kBf16) {
    // bf16 is the high half of an f32: widen to 32 bits and shift into place.
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + c));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else if constexpr (kType == DenseType::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + c)));
  } else {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const int8_t*>(p) + c));
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
  }
}

[[gnu::target("avx2,fma")]] inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Four rows at a time share each activation load; two partial sums per row
// keep eight FMA chains in flight, enough to hide FMA latency so the loop runs
// at the speed memory delivers the rows.
template <DenseType kType>
[[gnu::target("avx2,fma,f16c")]] void MatVecDenseAvx2(const DenseMatrixView& m, int64_t row_begin,
                                                       int64_t row_end, const float* x, float* y) {
  const int64_t n = m.cols;
  const int64_t n16 = n / 16 * 16;
  int64_t r = row_begin;
  for (; r + 4 <= row_end; r += 4) {
    const void* p[4] = {RowPointer(m, r), RowPointer(m, r + 1), RowPointer(m, r + 2), RowPointer(m, r + 3)};
    __m256 acc[4][2];
    for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
    for (int64_t c = 0; c < n16; c += 16) {
      const __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
      for (int i = 0; i < 4; ++i) {
        acc[i][0] = _mm256_fmadd_ps(Load8<kType>(p[i], c), x0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(Load8<kType>(p[i], c + 8), x1, acc[i][1]);
      }
    }
    for (int i = 0; i < 4; ++i) {
      float acc_s = HorizontalSum(_mm256_add_ps(acc[i][0], acc[i][1]));
      for (int64_t c = n16; c < n; ++c) acc_s += ElementAt(kType, p[i], c) * x[c];
      y[r + i - row_begin] = acc_s * RowScale(m, r + i);
    }
  }
  if (r < row_end) MatVecDenseScalar(m, r, row_end, x, y + (r - row_begin));
}

bool CpuHasAvx2Fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                          CpuHasF16c();
  return has;
}

#endif

}  // namespace

void MatVecDense(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const float* x, float* y) {
#if defined(__x86_64__)
  if (CpuHasAvx2Fma()) {
    switch (m.type) {
      case DenseType::kF32: return MatVecDenseAvx2<DenseType::kF32>(m, row_begin, row_end, x, y);
      case DenseType::kBf16: return MatVecDenseAvx2<DenseType::kBf16>(m, row_begin, row_end, x, y);
      case DenseType::kF16: return MatVecDenseAvx2<DenseType::kF16>(m, row_begin, row_end, x, y);
      case DenseType::kI8Row: return MatVecDenseAvx2<DenseType::kI8Row>(m, row_begin, row_end, x, y);
    }
  }
#endif
  MatVecDenseScalar(m, row_begin, row_end, x, y);
}

void QuantizeDenseRowsInt8(const DenseMatrixView& src, int8_t* q, float* row_scales) {
  std::vector<float> row(static_cast<size_t>(src.cols));
  for (int64_t r = 0; r < src.rows; ++r) {
    DenseRow(src, r, row.data());
    float max_abs = 0.0f;
    for (float v : row) max_abs = std::max(max_abs, std::fabs(v));
    const float scale = max_abs / 127.0f;
    row_scales[r] = scale;
    int8_t* out = q + r * src.cols;
    for (int64_t c = 0; c < src.cols; ++c)
      out[c] = scale == 0.0f ? int8_t{0}
                             : static_cast<int8_t>(std::clamp(std::nearbyint(row[c] / scale), -127.0f, 127.0f));
  }
}

}  // namespace bitnet
