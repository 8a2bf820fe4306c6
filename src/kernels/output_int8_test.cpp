// The int8 output mat-vec (every variant bit-exact with the scalar oracle),
// the fp16 KV row conversion, and the attention kernels against float64.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/output_int8.h"
#include "kernels/w2a8.h"
#include "util/half.h"

namespace bitnet {
namespace {

struct Int8Matrix {
  std::vector<int8_t> q;
  std::vector<float> scales;
  std::vector<int32_t> sums;
  DenseMatrixView view;
};

Int8Matrix RandomInt8Matrix(int64_t rows, int64_t cols, std::mt19937& rng, int max_q = 127) {
  Int8Matrix m;
  std::uniform_int_distribution<int> q(-max_q, max_q);
  std::uniform_real_distribution<float> s(1e-3f, 1e-1f);
  m.q.resize(static_cast<size_t>(rows * cols));
  for (auto& v : m.q) v = static_cast<int8_t>(q(rng));
  m.scales.resize(static_cast<size_t>(rows));
  for (auto& v : m.scales) v = s(rng);
  m.sums.resize(static_cast<size_t>(rows));
  Int8RowSums(m.q.data(), rows, cols, m.sums.data());
  m.view.type = DenseType::kI8Row;
  m.view.rows = rows;
  m.view.cols = cols;
  m.view.data = m.q.data();
  m.view.row_scales = m.scales.data();
  m.view.row_sums = m.sums.data();
  return m;
}

std::vector<int8_t> RandomActivations(int64_t n, std::mt19937& rng, int max_q = 127) {
  std::uniform_int_distribution<int> q(-max_q, max_q);
  std::vector<int8_t> x(static_cast<size_t>(n));
  for (auto& v : x) v = static_cast<int8_t>(q(rng));
  return x;
}

TEST(OutputInt8, RowSumsAreSumsOfTheRow) {
  const std::vector<int8_t> q = {1, -2, 3, 127, -127, 0};
  std::vector<int32_t> sums(2);
  Int8RowSums(q.data(), 2, 3, sums.data());
  EXPECT_EQ(sums[0], 2);
  EXPECT_EQ(sums[1], 0);
}

TEST(OutputInt8, ScalarIsTheExactDotTimesScales) {
  std::mt19937 rng(3);
  Int8Matrix m = RandomInt8Matrix(5, 70, rng);
  const std::vector<int8_t> x = RandomActivations(70, rng);
  std::vector<float> y(5);
  MatVecInt8RowsScalar(m.view, 0, 5, x.data(), 0.25f, y.data());
  for (int r = 0; r < 5; ++r) {
    int64_t dot = 0;
    for (int c = 0; c < 70; ++c) dot += m.q[r * 70 + c] * x[c];
    EXPECT_EQ(y[r], static_cast<float>(dot) * m.scales[r] * 0.25f) << r;
  }
}

// With row sums the VNNI variant runs where the CPU has it; without them the
// AVX2 sign-trick variant does. Both must match the oracle bit for bit, on
// the 2B shape, odd widths (masked and scalar tails) and odd row ranges.
TEST(OutputInt8, EveryVariantMatchesScalarExactly) {
  std::mt19937 rng(5);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{257, 2560}, {9, 1}, {13, 63}, {11, 65}, {7, 100}, {33, 130}}) {
    Int8Matrix m = RandomInt8Matrix(rows, cols, rng);
    const std::vector<int8_t> x = RandomActivations(cols, rng);
    for (bool with_sums : {true, false}) {
      DenseMatrixView view = m.view;
      if (!with_sums) view.row_sums = nullptr;
      for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, rows}, {1, rows}, {rows / 2, rows - 1}}) {
        if (begin >= end) continue;
        std::vector<float> want(static_cast<size_t>(end - begin)), got(want.size(), -1.0f);
        MatVecInt8RowsScalar(view, begin, end, x.data(), 0.37f, want.data());
        MatVecInt8Rows(view, begin, end, x.data(), 0.37f, got.data());
        EXPECT_EQ(want, got) << rows << "x" << cols << " rows " << begin << ".." << end << " variant "
                             << MatVecInt8RowsVariant(view);
      }
    }
  }
}

// +-127 everywhere: the largest pair sums (AVX2's i16 stage) and the largest
// offset correction (VNNI's 128 * row sum).
TEST(OutputInt8, ExtremeValuesStayExact) {
  for (int sign_x : {1, -1})
    for (int sign_q : {1, -1}) {
      Int8Matrix m;
      const int64_t rows = 8, cols = 2560;
      m.q.assign(rows * cols, static_cast<int8_t>(127 * sign_q));
      m.scales.assign(rows, 1.0f);
      m.sums.resize(rows);
      Int8RowSums(m.q.data(), rows, cols, m.sums.data());
      m.view = DenseMatrixView{DenseType::kI8Row, rows, cols, m.q.data(), m.scales.data(), m.sums.data()};
      const std::vector<int8_t> x(cols, static_cast<int8_t>(127 * sign_x));
      for (bool with_sums : {true, false}) {
        DenseMatrixView view = m.view;
        if (!with_sums) view.row_sums = nullptr;
        std::vector<float> got(rows);
        MatVecInt8Rows(view, 0, rows, x.data(), 1.0f, got.data());
        for (float v : got) EXPECT_EQ(v, static_cast<float>(127 * 127 * cols * sign_x * sign_q));
      }
    }
}

TEST(OutputInt8, VariantNamesFollowTheW2A8Dispatch) {
  std::mt19937 rng(1);
  Int8Matrix m = RandomInt8Matrix(4, 64, rng);
  const std::string name = MatVecInt8RowsVariant(m.view);
  if (ActiveW2A8Kernels().isa == KernelIsa::kAvx512Vnni) {
    EXPECT_EQ(name, "avx512vnni");
  }
  if (ActiveW2A8Kernels().isa == KernelIsa::kScalar) {
    EXPECT_EQ(name, "scalar");
  }
  DenseMatrixView no_sums = m.view;
  no_sums.row_sums = nullptr;
  EXPECT_NE(std::string(MatVecInt8RowsVariant(no_sums)), "avx512vnni");
}

TEST(KvHalf, RowConversionMatchesTheScalarRounding) {
  std::mt19937 rng(9);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> x(1003);
  for (auto& v : x) v = d(rng);
  // Ties, subnormals, overflow and zero signs.
  const float special[] = {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 6e-8f, -3e-6f, 70000.0f, -0.0f, 65504.0f, 65520.0f};
  for (size_t i = 0; i < std::size(special); ++i) x[i] = special[i];
  std::vector<uint16_t> got(x.size());
  F32ToF16Row(x.data(), static_cast<int64_t>(x.size()), got.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(got[i], F32ToF16(x[i])) << i << " " << x[i];
}

// Both element types, 1..5 query heads (the 4-head and 3-head register
// blocks and their remainders), a row stride wider than the head.
TEST(Attention, ScoresAndValuesMatchFloat64) {
  std::mt19937 rng(11);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const int dim = 128;
  const int64_t n = 77, row_stride = 3 * dim, stride = 80;
  for (KvElement type : {KvElement::kF32, KvElement::kF16}) {
    std::vector<float> k32(n * row_stride), v32(n * row_stride);
    for (auto& v : k32) v = d(rng);
    for (auto& v : v32) v = d(rng);
    std::vector<uint16_t> k16(k32.size()), v16(v32.size());
    F32ToF16Row(k32.data(), static_cast<int64_t>(k32.size()), k16.data());
    F32ToF16Row(v32.data(), static_cast<int64_t>(v32.size()), v16.data());
    const void* k = type == KvElement::kF16 ? static_cast<const void*>(k16.data()) : k32.data();
    const void* v = type == KvElement::kF16 ? static_cast<const void*>(v16.data()) : v32.data();
    auto at = [&](const std::vector<float>& f32, const std::vector<uint16_t>& f16, int64_t i) {
      return type == KvElement::kF16 ? static_cast<double>(F16ToF32(f16[i])) : static_cast<double>(f32[i]);
    };
    for (int n_q = 1; n_q <= 5; ++n_q) {
      std::vector<float> q(static_cast<size_t>(n_q) * dim);
      for (auto& x : q) x = d(rng);
      std::vector<float> scores(static_cast<size_t>(n_q) * stride, 0.0f);
      AttentionScores(q.data(), n_q, k, type, row_stride, n, dim, 0.125f, scores.data(), stride);
      std::vector<float> probs(scores.size());
      for (auto& p : probs) p = std::uniform_real_distribution<float>(0.0f, 1.0f)(rng);
      std::vector<float> out(static_cast<size_t>(n_q) * dim);
      AttentionValues(probs.data(), n_q, stride, v, type, row_stride, n, dim, out.data());
      for (int g = 0; g < n_q; ++g) {
        for (int64_t p = 0; p < n; ++p) {
          double want = 0;
          for (int i = 0; i < dim; ++i) want += static_cast<double>(q[g * dim + i]) * at(k32, k16, p * row_stride + i);
          EXPECT_NEAR(scores[g * stride + p], want * 0.125, 1e-5 * (1 + std::fabs(want))) << g << " " << p;
        }
        for (int i = 0; i < dim; ++i) {
          double want = 0;
          for (int64_t p = 0; p < n; ++p) want += probs[g * stride + p] * at(v32, v16, p * row_stride + i);
          EXPECT_NEAR(out[g * dim + i], want, 1e-5 * (1 + std::fabs(want))) << g << " " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace bitnet
