// The NEON variant of MatVecInt8Rows (output_int8.h) for aarch64 CPUs with the
// dot-product extension: sdot multiplies s8 by s8 and adds each group of four
// into an i32 lane, exactly, so no offset or row sums are needed. Compiled
// with +dotprod (CMakeLists.txt); the dispatch hands it out only with the
// NEON table, which exists only where the CPU reports dotprod.
#include "kernels/dispatch_fill.h"
#include "kernels/output_int8.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>

namespace bitnet {
namespace {

inline const int8_t* RowOf(const DenseMatrixView& m, int64_t r) { return static_cast<const int8_t*>(m.data) + r * m.cols; }
// The scalar variant's last step, so equal int32 dots give equal floats.
inline float Finish(int32_t dot, float row_scale, float inv_a) { return static_cast<float>(dot) * row_scale * inv_a; }

void MatVecInt8RowsNeon(const DenseMatrixView& m, int64_t row_begin, int64_t row_end, const int8_t* xq, float inv_a,
                        float* y) {
  const int64_t n = m.cols;
  const int64_t n16 = n / 16 * 16;
  constexpr int kRows = 4;
  int64_t r = row_begin;
  for (; r + kRows <= row_end; r += kRows) {
    const int8_t* p[kRows] = {RowOf(m, r), RowOf(m, r + 1), RowOf(m, r + 2), RowOf(m, r + 3)};
    int32x4_t acc[kRows] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    for (int64_t c = 0; c < n16; c += 16) {
      const int8x16_t x = vld1q_s8(xq + c);
      for (int i = 0; i < kRows; ++i) acc[i] = vdotq_s32(acc[i], vld1q_s8(p[i] + c), x);
    }
    for (int i = 0; i < kRows; ++i) {
      int32_t dot = vaddvq_s32(acc[i]);
      for (int64_t c = n16; c < n; ++c) dot += p[i][c] * xq[c];
      y[r + i - row_begin] = Finish(dot, m.row_scales[r + i], inv_a);
    }
  }
  for (; r < row_end; ++r) {
    const int8_t* p = RowOf(m, r);
    int32x4_t acc = vdupq_n_s32(0);
    for (int64_t c = 0; c < n16; c += 16) acc = vdotq_s32(acc, vld1q_s8(p + c), vld1q_s8(xq + c));
    int32_t dot = vaddvq_s32(acc);
    for (int64_t c = n16; c < n; ++c) dot += p[c] * xq[c];
    y[r - row_begin] = Finish(dot, m.row_scales[r], inv_a);
  }
}

}  // namespace

namespace dispatch_fill {
void AddNeonOutputInt8(KernelTable& t) {
  t.mat_vec_int8_rows = {MatVecInt8RowsNeon, KernelIsa::kNeonDot};
  t.mat_mul_int8_rows = {Int8RowsPerToken<MatVecInt8RowsNeon>, KernelIsa::kNeonDot};
}
}  // namespace dispatch_fill

}  // namespace bitnet

#elif defined(__aarch64__)

namespace bitnet::dispatch_fill {
void AddNeonOutputInt8(KernelTable&) {}  // no dotprod in this compiler: the scalar entry stays
}  // namespace bitnet::dispatch_fill

#endif
