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

#include "kernels/w2a8.h"
#include "util/error.h"

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
    for (int n : {2, 7, 9}) {
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
                         ::testing::Values(KernelIsa::kAvx2, KernelIsa::kAvx512Vnni, KernelIsa::kNeonDot),
                         IsaParamName);

TEST(W2A8Dispatch, ForcedVariantsAreCheckedNotTrusted) {
  EXPECT_THROW(SelectW2A8Kernels("sse9"), Error);
  const std::vector<KernelIsa> runnable = RunnableIsas();
  ASSERT_FALSE(runnable.empty());
  EXPECT_EQ(runnable.front(), KernelIsa::kScalar);
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvx512Vnni, KernelIsa::kNeonDot}) {
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

}  // namespace
}  // namespace bitnet
