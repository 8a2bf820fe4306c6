// Every SIMD variant against the scalar oracle, bit for bit, on the real
// BitNet shapes, odd shapes and extreme values; the SIMD float ops against
// double-precision references; the thread pool's work split.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <atomic>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <chrono>
#include <cstring>
#include <limits>
#include <thread>

#include "kernels/dense.h"
#include "kernels/ops.h"
#include "kernels/quantize.h"
#include "kernels/w2a8.h"
#include "util/error.h"
#include "util/half.h"
#include "util/thread_pool.h"

namespace bitnet {
namespace {

// A packed matrix that owns its bytes.
struct PackedMatrix {
  std::vector<uint8_t> bytes;
  TernaryMatrixView view;
};

// Random codes 0..2 in every field, padding included (the kernels must not
// care what the padding codes are, since padded activations are zero).
PackedMatrix RandomCodes(int64_t rows, int64_t cols, std::mt19937& rng) {
  std::array<uint8_t, 81> valid{};
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if ((b & (b >> 1) & 0x55) == 0) valid[n++] = static_cast<uint8_t>(b);
  PackedMatrix m;
  m.view = {rows, cols, TernaryPaddedCols(cols), nullptr};
  m.bytes.resize(m.view.size_bytes());
  for (auto& b : m.bytes) b = valid[rng() % 81];
  m.view.codes = m.bytes.data();
  return m;
}

PackedMatrix PackedFrom(const std::vector<int8_t>& w, int64_t rows, int64_t cols) {
  PackedMatrix m;
  m.bytes = PackTernaryRows(w.data(), rows, cols);
  m.view = {rows, cols, TernaryPaddedCols(cols), m.bytes.data()};
  return m;
}

PackedMatrix RandomWeights(int64_t rows, int64_t cols, std::mt19937& rng) {
  std::vector<int8_t> w(static_cast<size_t>(rows * cols));
  for (auto& v : w) v = static_cast<int8_t>(static_cast<int>(rng() % 3) - 1);
  return PackedFrom(w, rows, cols);
}

PackedMatrix ConstantWeights(int64_t rows, int64_t cols, int8_t value) {
  return PackedFrom(std::vector<int8_t>(static_cast<size_t>(rows * cols), value), rows, cols);
}

// n tokens of activations, [n][cols_padded], zero beyond cols.
struct Activations {
  std::vector<int8_t> x;
  std::vector<int32_t> sums;
};

template <typename Gen>
Activations MakeActivations(int n, int64_t cols, int64_t cols_padded, Gen gen) {
  Activations a;
  a.x.assign(static_cast<size_t>(n * cols_padded), 0);
  a.sums.assign(static_cast<size_t>(n), 0);
  for (int t = 0; t < n; ++t)
    for (int64_t k = 0; k < cols; ++k) {
      const int8_t v = gen(t, k);
      a.x[t * cols_padded + k] = v;
      a.sums[t] += v;
    }
  return a;
}

Activations RandomActivations(int n, const TernaryMatrixView& w, std::mt19937& rng) {
  return MakeActivations(n, w.cols, w.cols_padded,
                         [&](int, int64_t) { return static_cast<int8_t>(static_cast<int>(rng() % 256) - 128); });
}

constexpr int32_t kSentinel = 0x5A5A5A5A;

// Runs mat_vec of `isa` and of the scalar oracle on the same inputs and
// compares every output word, including the ones either side that must stay
// untouched.
void ExpectMatVecMatches(const W2A8Kernels& k, const TernaryMatrixView& w, int64_t row_begin, int64_t row_end,
                         const Activations& a, int token = 0) {
  const int64_t count = row_end - row_begin;
  std::vector<int32_t> want(static_cast<size_t>(count + 2), kSentinel), got(want);
  const int8_t* x = a.x.data() + token * w.cols_padded;
  ScalarW2A8Kernels().mat_vec(w, row_begin, row_end, x, a.sums[token], want.data() + 1);
  k.mat_vec(w, row_begin, row_end, x, a.sums[token], got.data() + 1);
  ASSERT_EQ(got.front(), kSentinel) << "wrote before y";
  ASSERT_EQ(got.back(), kSentinel) << "wrote past y";
  for (int64_t i = 0; i < count; ++i)
    ASSERT_EQ(got[i + 1], want[i + 1]) << k.name << " mat_vec " << w.rows << "x" << w.cols << " rows [" << row_begin
                                       << "," << row_end << ") row " << row_begin + i;
}

void ExpectMatMulMatches(const W2A8Kernels& k, const TernaryMatrixView& w, int64_t row_begin, int64_t row_end,
                         const Activations& a, int n, int64_t y_stride) {
  const size_t size = static_cast<size_t>(n * y_stride);
  std::vector<int32_t> want(size, kSentinel), got(size, kSentinel);
  ScalarW2A8Kernels().mat_mul(w, row_begin, row_end, a.x.data(), a.sums.data(), n, want.data(), y_stride);
  k.mat_mul(w, row_begin, row_end, a.x.data(), a.sums.data(), n, got.data(), y_stride);
  for (int t = 0; t < n; ++t)
    for (int64_t r = 0; r < y_stride; ++r)
      ASSERT_EQ(got[t * y_stride + r], want[t * y_stride + r])
          << k.name << " mat_mul " << w.rows << "x" << w.cols << " n=" << n << " rows [" << row_begin << ","
          << row_end << ") stride " << y_stride << " token " << t << " row " << r
          << (r >= row_begin && r < row_end ? "" : " (outside the range: must stay untouched)");
}

class W2A8IsaTest : public ::testing::TestWithParam<KernelIsa> {
 protected:
  void SetUp() override {
    kernels_ = W2A8KernelsFor(GetParam());
    if (kernels_ == nullptr)
      GTEST_SKIP() << IsaName(GetParam()) << " is not compiled in or this CPU cannot run it";
  }
  const W2A8Kernels& k() const { return *kernels_; }
  const W2A8Kernels* kernels_ = nullptr;
};

TEST_P(W2A8IsaTest, MatVecMatchesScalarOnBitnetShapes) {
  std::mt19937 rng(11);
  struct Shape {
    int64_t rows, cols, row_begin, row_end;
  };
  // gate|up is subsampled to a range that starts mid-matrix.
  for (const Shape s : {Shape{3840, 2560, 0, 3840}, Shape{2560, 2560, 0, 2560}, Shape{13824, 2560, 6912, 8000},
                        Shape{2560, 6912, 0, 2560}}) {
    const PackedMatrix m = RandomCodes(s.rows, s.cols, rng);
    const Activations a = RandomActivations(1, m.view, rng);
    ExpectMatVecMatches(k(), m.view, s.row_begin, s.row_end, a);
  }
}

TEST_P(W2A8IsaTest, MatMulMatchesScalarOnBitnetShapes) {
  std::mt19937 rng(12);
  struct Shape {
    int64_t rows, cols, row_begin, row_end;
  };
  for (const Shape s : {Shape{3840, 2560, 16, 400}, Shape{2560, 2560, 0, 256}, Shape{13824, 2560, 13824 - 300, 13824},
                        Shape{2560, 6912, 1000, 1128}}) {
    const PackedMatrix m = RandomCodes(s.rows, s.cols, rng);
    for (int n : {2, 3, 4, 5, 6, 7, 8, 9, 13}) {
      const Activations a = RandomActivations(n, m.view, rng);
      ExpectMatMulMatches(k(), m.view, s.row_begin, s.row_end, a, n, s.rows);
    }
  }
}

// The extremes that would expose a saturating or overflowing intermediate:
// every weight +1 times every activation -128 is the largest magnitude sum.
TEST_P(W2A8IsaTest, ExtremeWeightsAndActivations) {
  std::mt19937 rng(13);
  const int64_t rows = 37, cols = 6912;
  const std::vector<std::pair<const char*, std::function<int8_t(int, int64_t)>>> patterns = {
      {"all +127", [](int, int64_t) { return int8_t{127}; }},
      {"all -128", [](int, int64_t) { return int8_t{-128}; }},
      {"alternating extremes", [](int t, int64_t k) { return (k + t) % 2 ? int8_t{127} : int8_t{-128}; }},
      {"random extremes", [&](int, int64_t) { return rng() % 2 ? int8_t{127} : int8_t{-128}; }},
  };
  for (int8_t weight : {int8_t{-1}, int8_t{0}, int8_t{1}}) {
    const PackedMatrix m = ConstantWeights(rows, cols, weight);
    for (const auto& [name, gen] : patterns) {
      SCOPED_TRACE(std::string("weights ") + std::to_string(weight) + ", activations " + name);
      const Activations a = MakeActivations(9, cols, m.view.cols_padded, gen);
      ExpectMatVecMatches(k(), m.view, 0, rows, a);
      for (int n = 1; n <= 9; ++n) ExpectMatMulMatches(k(), m.view, 0, rows, a, n, rows);
    }
  }
  // The sign of the extreme sum, to be sure the oracle itself saw it.
  const PackedMatrix plus = ConstantWeights(1, cols, 1);
  const Activations low = MakeActivations(1, cols, cols, [](int, int64_t) { return int8_t{-128}; });
  int32_t y = 0;
  k().mat_vec(plus.view, 0, 1, low.x.data(), low.sums[0], &y);
  EXPECT_EQ(y, -128 * cols);
}

TEST_P(W2A8IsaTest, OddShapesRangesTokenCountsAndStrides) {
  std::mt19937 rng(14);
  // 200 and 1000 are not multiples of 128: the activations' zero padding and
  // the packer's padding codes must not change the result.
  for (int64_t rows : {1, 3, 17}) {
    for (int64_t cols : {128, 200, 384, 1000, 6912}) {
      const PackedMatrix m = RandomWeights(rows, cols, rng);
      const Activations a = RandomActivations(9, m.view, rng);
      for (int64_t begin : {int64_t{0}, int64_t{1}}) {
        for (int64_t end : {rows, rows - 1}) {
          if (begin >= end) continue;
          ExpectMatVecMatches(k(), m.view, begin, end, a, 8);
          for (int n = 1; n <= 9; ++n) ExpectMatMulMatches(k(), m.view, begin, end, a, n, rows + 5);
        }
      }
    }
  }
}

TEST_P(W2A8IsaTest, EveryRowSubRangeOfATiledMatrix) {
  std::mt19937 rng(15);
  const PackedMatrix m = RandomCodes(70, 384, rng);
  const Activations a = RandomActivations(6, m.view, rng);
  for (int64_t begin : {0, 1, 2, 3, 5, 16, 63}) {
    for (int64_t end : {begin + 1, begin + 2, begin + 3, begin + 4, begin + 7, int64_t{70}}) {
      if (end > 70 || begin >= end) continue;
      ExpectMatVecMatches(k(), m.view, begin, end, a, 3);
      ExpectMatMulMatches(k(), m.view, begin, end, a, 6, 70);
    }
  }
}

std::string IsaParamName(const ::testing::TestParamInfo<KernelIsa>& info) { return IsaName(info.param); }

INSTANTIATE_TEST_SUITE_P(SimdVariants, W2A8IsaTest,
                         ::testing::Values(KernelIsa::kAvx2, KernelIsa::kAvxVnni, KernelIsa::kAvx512Vnni, KernelIsa::kNeonDot),
                         IsaParamName);

TEST(W2A8Dispatch, ForcedVariantsAreCheckedNotTrusted) {
  EXPECT_THROW(SelectW2A8Kernels("sse9"), Error);
  const std::vector<KernelIsa> runnable = RunnableIsas();
  ASSERT_FALSE(runnable.empty());
  EXPECT_EQ(runnable.front(), KernelIsa::kScalar);
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvxVnni, KernelIsa::kAvx512Vnni, KernelIsa::kNeonDot}) {
    const bool can_run = std::find(runnable.begin(), runnable.end(), isa) != runnable.end();
    if (can_run) {
      EXPECT_EQ(SelectW2A8Kernels(IsaName(isa)).isa, isa);
    } else {
      EXPECT_THROW(SelectW2A8Kernels(IsaName(isa)), Error) << IsaName(isa);
    }
  }
  EXPECT_EQ(SelectW2A8Kernels(nullptr).isa, runnable.back());
  EXPECT_EQ(SelectW2A8Kernels("").isa, runnable.back());
}


// ---- float ops (whichever variant this CPU runs) ----

std::vector<float> RandomFloats(int64_t n, float scale, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& f : v) f = dist(rng);
  return v;
}

// The published quantizer, element by element, as the test's own oracle.
void ReferenceQuantize(const std::vector<float>& x, float a, std::vector<int8_t>& q, int32_t& sum) {
  q.assign(x.size(), 0);
  sum = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    q[i] = static_cast<int8_t>(std::clamp(std::nearbyint(x[i] * a), -128.0f, 127.0f));
    sum += q[i];
  }
}

TEST(FloatOps, QuantizeIsExactlyTheScalarRounding) {
  std::mt19937 rng(21);
  for (int64_t n : {1, 7, 31, 32, 33, 100, 2560, 6912}) {
    std::vector<float> x = RandomFloats(n, 3.0f, rng);
    // Ties: with max|x| = 127, a = 1 and x * a = k + 0.5 exactly.
    x[0] = 127.0f;
    for (int64_t i = 1; i < n; i += 3) x[i] = static_cast<float>(static_cast<int>(rng() % 254) - 127) + 0.5f;
    const int64_t n_padded = (n + 127) / 128 * 128 + 128;
    std::vector<int8_t> xq(static_cast<size_t>(n_padded), 0x55);
    int32_t sum = 0;
    const float a = QuantizeActivationsInt8(x.data(), n, n_padded, xq.data(), &sum);
    ASSERT_EQ(a, 1.0f);
    std::vector<int8_t> want;
    int32_t want_sum = 0;
    ReferenceQuantize(x, a, want, want_sum);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(xq[i], want[i]) << "n=" << n << " i=" << i << " x=" << x[i];
    for (int64_t i = n; i < n_padded; ++i) ASSERT_EQ(xq[i], 0) << "padding n=" << n << " i=" << i;
    EXPECT_EQ(sum, want_sum);
  }
  // General scales: a = 127 / max|x| is not a power of two.
  for (float scale : {1e-3f, 0.37f, 50.0f}) {
    const std::vector<float> x = RandomFloats(2560, scale, rng);
    std::vector<int8_t> xq(2560);
    int32_t sum = 0;
    const float a = QuantizeActivationsInt8(x.data(), 2560, 2560, xq.data(), &sum);
    float max_abs = 0.0f;
    for (float v : x) max_abs = std::max(max_abs, std::fabs(v));
    EXPECT_EQ(a, 127.0f / max_abs);
    std::vector<int8_t> want;
    int32_t want_sum = 0;
    ReferenceQuantize(x, a, want, want_sum);
    EXPECT_EQ(xq, want) << "scale " << scale;
    EXPECT_EQ(sum, want_sum);
  }
}

TEST(FloatOps, RmsNormWithinOneMillionthOfDouble) {
  std::mt19937 rng(22);
  for (int64_t n : {1, 15, 16, 17, 2560, 6912}) {
    const std::vector<float> x = RandomFloats(n, 2.0f, rng), w = RandomFloats(n, 1.0f, rng);
    std::vector<float> out(static_cast<size_t>(n));
    RmsNorm(x.data(), w.data(), n, 1e-5f, out.data());
    double ss = 0.0;
    for (float v : x) ss += static_cast<double>(v) * v;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-5);
    for (int64_t i = 0; i < n; ++i) {
      const double want = x[i] * inv * w[i];
      ASSERT_NEAR(out[i], want, 1e-6 * std::fabs(want) + 1e-30) << "n=" << n << " i=" << i;
    }
  }
}

TEST(FloatOps, FusedNormQuantizeEqualsNormThenQuantize) {
  std::mt19937 rng(23);
  for (int64_t n : {5, 2560, 6912}) {
    const std::vector<float> x = RandomFloats(n, 4.0f, rng), w = RandomFloats(n, 1.0f, rng);
    const int64_t n_padded = (n + 127) / 128 * 128;
    std::vector<float> normed(static_cast<size_t>(n));
    RmsNorm(x.data(), w.data(), n, 1e-5f, normed.data());
    std::vector<int8_t> two_step(static_cast<size_t>(n_padded)), fused(static_cast<size_t>(n_padded), 9);
    int32_t sum_two = 0, sum_fused = 0;
    const float a_two = QuantizeActivationsInt8(normed.data(), n, n_padded, two_step.data(), &sum_two);
    const float a_fused = RmsNormQuantizeInt8(x.data(), w.data(), n, 1e-5f, n_padded, fused.data(), &sum_fused);
    EXPECT_EQ(a_fused, a_two);
    EXPECT_EQ(fused, two_step);
    EXPECT_EQ(sum_fused, sum_two);
  }
}

TEST(FloatOps, SoftmaxWithinToleranceAndMaskedEntriesAreZero) {
  std::mt19937 rng(24);
  for (int64_t n : {1, 5, 8, 9, 100, 4096}) {
    std::vector<float> x = RandomFloats(n, 6.0f, rng);
    if (n > 2) x[1] = -std::numeric_limits<float>::infinity();  // a causal mask
    const std::vector<float> in = x;
    Softmax(x.data(), n);
    double mx = in[0], total = 0.0;
    for (float v : in) mx = std::max<double>(mx, v);
    for (float v : in) total += std::exp(static_cast<double>(v) - mx);
    for (int64_t i = 0; i < n; ++i) {
      if (std::isinf(in[i])) continue;  // checked exactly below
      const double want = std::exp(static_cast<double>(in[i]) - mx) / total;
      // x - max is rounded to float before exp, which alone costs up to
      // |x - max| * 2^-24 relative; the rest is exp's and the sum's rounding.
      // The scalar variant (BITNET_ISA=scalar) adds n floats in one running
      // sum, which drifts by about sqrt(n) ulp: 4.5e-6 at n = 4096.
      const double arg = std::fabs(static_cast<double>(in[i]) - mx);
      const double sum_tol = 1.5e-7 * std::sqrt(static_cast<double>(n));
      ASSERT_NEAR(x[i], want, (2e-6 + 1.2e-7 * arg + sum_tol) * want + 1e-37)
          << "n=" << n << " i=" << i << " x=" << in[i];
    }
    if (n > 2) {
      EXPECT_EQ(x[1], 0.0f);
    }
  }
}

TEST(FloatOps, Relu2GateIsBitExact) {
  std::mt19937 rng(25);
  for (int64_t n : {1, 7, 8, 6912, 6913}) {
    const std::vector<float> g = RandomFloats(n, 2.0f, rng), u = RandomFloats(n, 2.0f, rng);
    std::vector<float> out(static_cast<size_t>(n));
    Relu2Gate(g.data(), u.data(), n, out.data());
    for (int64_t i = 0; i < n; ++i) {
      const float r = std::max(g[i], 0.0f);
      ASSERT_EQ(out[i], r * r * u[i]) << i;
    }
  }
}

TEST(FloatOps, DotF32WithinToleranceOfDouble) {
  std::mt19937 rng(26);
  for (int64_t n : {0, 1, 9, 31, 32, 128, 6912}) {
    const std::vector<float> a = RandomFloats(n, 1.0f, rng), b = RandomFloats(n, 1.0f, rng);
    double want = 0.0, magnitude = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      want += static_cast<double>(a[i]) * b[i];
      magnitude += std::fabs(static_cast<double>(a[i]) * b[i]);
    }
    EXPECT_NEAR(DotF32(a.data(), b.data(), n), want, 1e-6 * magnitude + 1e-30) << n;
  }
}

// ---- dense matrices (the output projection) ----

struct DenseOwner {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  DenseMatrixView view;
};

DenseOwner RandomDense(DenseType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  DenseOwner d;
  const std::vector<float> v = RandomFloats(rows * cols, 0.05f, rng);
  const int64_t elem = type == DenseType::kF32 ? 4 : type == DenseType::kI8Row ? 1 : 2;
  d.bytes.resize(static_cast<size_t>(rows * cols * elem));
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (type == DenseType::kF32) {
      std::memcpy(d.bytes.data() + 4 * i, &v[i], 4);
    } else if (type == DenseType::kI8Row) {
      d.bytes[i] = static_cast<uint8_t>(static_cast<int>(rng() % 255) - 127);
    } else {
      const uint16_t h = type == DenseType::kBf16 ? F32ToBf16(v[i]) : F32ToF16(v[i]);
      std::memcpy(d.bytes.data() + 2 * i, &h, 2);
    }
  }
  d.scales.resize(static_cast<size_t>(rows));
  for (auto& s : d.scales) s = 0.001f + static_cast<float>(rng() % 1000) * 1e-5f;
  d.view = {type, rows, cols, d.bytes.data(), type == DenseType::kI8Row ? d.scales.data() : nullptr};
  return d;
}

TEST(DenseOps, MatVecWithinToleranceOfDoubleForEveryType) {
  std::mt19937 rng(27);
  for (DenseType type : {DenseType::kF32, DenseType::kBf16, DenseType::kF16, DenseType::kI8Row}) {
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {3, 15}, {4, 16}, {9, 17}, {13, 2560}}) {
      const DenseOwner d = RandomDense(type, rows, cols, rng);
      const std::vector<float> x = RandomFloats(cols, 1.0f, rng);
      for (int64_t begin : {int64_t{0}, std::min<int64_t>(1, rows - 1)}) {
        std::vector<float> y(static_cast<size_t>(rows - begin) + 1, -7.0f);
        MatVecDense(d.view, begin, rows, x.data(), y.data());
        EXPECT_EQ(y.back(), -7.0f) << "wrote past the range";
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = begin; r < rows; ++r) {
          DenseRow(d.view, r, row.data());
          double want = 0.0, magnitude = 0.0;
          for (int64_t c = 0; c < cols; ++c) {
            want += static_cast<double>(row[c]) * x[c];
            magnitude += std::fabs(static_cast<double>(row[c]) * x[c]);
          }
          ASSERT_NEAR(y[r - begin], want, 2e-6 * magnitude + 1e-30)
              << DenseTypeName(type) << " " << rows << "x" << cols << " row " << r;
        }
      }
    }
  }
}

TEST(DenseOps, QuantizeRowsInt8UsesAbsmaxOver127AndRoundsHalfToEven) {
  std::mt19937 rng(28);
  DenseOwner d = RandomDense(DenseType::kBf16, 6, 300, rng);
  // Row 1 is all zeros; row 2 is built so v / scale has exact ties.
  uint16_t* p = reinterpret_cast<uint16_t*>(d.bytes.data());
  for (int64_t c = 0; c < 300; ++c) p[300 + c] = F32ToBf16(0.0f);
  const float ties[] = {127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -126.5f};
  for (int c = 0; c < 300; ++c) p[600 + c] = F32ToBf16(ties[c % 7]);
  std::vector<int8_t> q(6 * 300);
  std::vector<float> scales(6);
  QuantizeDenseRowsInt8(d.view, q.data(), scales.data());
  EXPECT_EQ(scales[1], 0.0f);
  for (int c = 0; c < 300; ++c) EXPECT_EQ(q[300 + c], 0);
  EXPECT_EQ(scales[2], 1.0f);
  const int8_t tie_q[] = {127, 0, 2, 2, 0, -2, -126};
  for (int c = 0; c < 300; ++c) ASSERT_EQ(q[600 + c], tie_q[c % 7]) << c;
  std::vector<float> row(300);
  for (int64_t r = 0; r < 6; ++r) {
    DenseRow(d.view, r, row.data());
    float max_abs = 0.0f;
    for (float v : row) max_abs = std::max(max_abs, std::fabs(v));
    EXPECT_EQ(scales[r], max_abs / 127.0f) << r;
    for (int64_t c = 0; c < 300; ++c) {
      ASSERT_GE(q[r * 300 + c], -127);
      if (scales[r] > 0.0f) {
        ASSERT_NEAR(q[r * 300 + c] * scales[r], row[c], 0.5f * scales[r] * 1.0001f) << r << "," << c;
      }
    }
  }
  // The quantized form is a usable kI8Row view.
  const DenseMatrixView view{DenseType::kI8Row, 6, 300, q.data(), scales.data()};
  const std::vector<float> x = RandomFloats(300, 1.0f, rng);
  std::vector<float> y(6), y_ref(6);
  MatVecDense(view, 0, 6, x.data(), y.data());
  MatVecDense(d.view, 0, 6, x.data(), y_ref.data());
  for (int r = 0; r < 6; ++r) EXPECT_NEAR(y[r], y_ref[r], 0.5 * scales[r] * 300 * 3.5 + 1e-6) << r;
}

// ---- the thread pool ----

TEST(ThreadPoolSplit, ParallelForChunksRunsEveryChunkOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 7, 64, 1000, 1001}) {
      for (int64_t chunk : {1, 16, 64, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> bad_chunks{0};
        pool.ParallelForChunks(n, chunk, [&](int64_t begin, int64_t end) {
          if (begin % chunk != 0 || (end != n && end - begin != chunk) || end > n || begin >= end) ++bad_chunks;
          for (int64_t i = begin; i < end; ++i) ++hits[static_cast<size_t>(i)];
        });
        EXPECT_EQ(bad_chunks, 0) << threads << " " << n << " " << chunk;
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)], 1) << threads << " " << n << " " << i;
      }
    }
  }
}

TEST(ThreadPoolSplit, ParallelForCoversEveryIndexOnceInAlignedChunks) {
  for (int threads : {1, 2, 3, 4, 7}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 15, 16, 17, 100, 1000, 13824}) {
      for (int64_t align : {1, 16, 64}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> bad_starts{0};
        pool.ParallelFor(n, align, [&](int64_t begin, int64_t end) {
          if (begin % align != 0 || begin >= end) ++bad_starts;
          for (int64_t i = begin; i < end; ++i) ++hits[i];
        });
        EXPECT_EQ(bad_starts.load(), 0) << threads << " threads, n=" << n << ", align=" << align;
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[i].load(), 1) << threads << " threads, n=" << n << ", align=" << align << ", i=" << i;
      }
    }
  }
}

TEST(ThreadPoolSplit, BackToBackAndAfterIdleRegionsAllComplete) {
  ThreadPool pool(3);  // more threads than this machine's cores: the oversubscribed case
  std::atomic<int64_t> total{0};
  // Back to back: workers are still spinning from the previous region.
  for (int i = 0; i < 2000; ++i) pool.RunOnAll([&](int t) { total += t + 1; });
  EXPECT_EQ(total.load(), 2000 * 6);
  // After an idle gap longer than the spin: workers were asleep.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    pool.RunOnAll([&](int t) { total += t + 1; });
  }
  EXPECT_EQ(total.load(), 2003 * 6);
  // A slow worker: the caller must wait for it, spinning and then sleeping.
  std::atomic<bool> slow_done{false};
  pool.RunOnAll([&](int t) {
    if (t == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
      slow_done = true;
    }
  });
  EXPECT_TRUE(slow_done.load());
}

}  // namespace
}  // namespace bitnet
