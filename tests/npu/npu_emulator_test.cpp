#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "backend/npu/emulator.h"
#include "backend/npu/npu_backend.h"
#include "backend/npu/npu_layout.h"
#include "kernels/w2a8.h"
#include "npu_test_util.h"
#include "util/error.h"
#include "util/thread_pool.h"
#include "w2a8_tile.h"

namespace bitnet {
namespace {

struct Case { int64_t rows, cols; int n; NpuGeneration gen; };
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.rows << "x" << c.cols << " n=" << c.n << " " << NpuGenerationName(c.gen);
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return std::to_string(c.rows) + "x" + std::to_string(c.cols) + "_n" + std::to_string(c.n) + "_" +
         NpuGenerationName(c.gen);
}

class NpuEmulatorExact : public ::testing::TestWithParam<Case> {};

// The emulated NPU path (PackForNpu -> DMA taps -> shared kernel -> output
// tap) equals the scalar CPU oracle on every int32.
TEST_P(NpuEmulatorExact, MatchesScalarReference) {
  const Case c = GetParam();
  const auto m = npu_test::MakeRandomTernary(c.rows, c.cols, static_cast<uint32_t>(c.rows + 7 * c.cols + c.n));
  std::vector<int32_t> sums;
  const auto x = npu_test::MakeActivations(c.n, c.cols, m.view.cols_padded, 99u + static_cast<uint32_t>(c.n), &sums);
  std::vector<int32_t> want(static_cast<size_t>(c.n * c.rows)), got(want.size(), -12345);
  ScalarW2A8Kernels().mat_mul(m.view, 0, c.rows, x.data(), sums.data(), c.n, want.data(), c.rows);

  ThreadPool pool(2);
  auto backend = MakeNpuBackend(MakeNpuEmulator(c.gen, &pool), &pool);
  ASSERT_TRUE(backend->Supports(m.view));
  const int h = backend->Upload(m.view);
  const auto start = std::chrono::steady_clock::now();
  backend->MatMul(h, x.data(), sums.data(), c.n, got.data());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // A failed dispatch would fall back to the CPU and still match: the name says which ran.
  ASSERT_EQ(backend->Name().find("failed"), std::string::npos) << backend->Name();
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << "token " << i / c.rows << " row " << i % c.rows;
  EXPECT_LT(seconds, c.n > 4 ? 2.0 : 1.0) << "emulator too slow for this shape";  // n > 4: two dispatches
}

INSTANTIATE_TEST_SUITE_P(
    RealShapes, NpuEmulatorExact,
    ::testing::Values(Case{3840, 2560, 1, NpuGeneration::kNpu2}, Case{2560, 2560, 1, NpuGeneration::kNpu2},
                      Case{13824, 2560, 1, NpuGeneration::kNpu2}, Case{2560, 6912, 1, NpuGeneration::kNpu2},
                      Case{3840, 2560, 1, NpuGeneration::kNpu1}, Case{2560, 6912, 1, NpuGeneration::kNpu1},
                      Case{2560, 6912, 5, NpuGeneration::kNpu2}, Case{3840, 2560, 4, NpuGeneration::kNpu2},
                      Case{13824, 2560, 8, NpuGeneration::kNpu1}),
    CaseName);

// The four distinct BitNet b1.58 2B-4T matrices unfused (q/o 2560x2560, k/v
// 640x2560, gate/up 6912x2560, down 2560x6912), decode and prefill (8 tokens
// = two 4-token dispatches), on both generations' plans.
INSTANTIATE_TEST_SUITE_P(
    BitNetShapes, NpuEmulatorExact,
    ::testing::Values(Case{2560, 2560, 1, NpuGeneration::kNpu2}, Case{640, 2560, 1, NpuGeneration::kNpu2},
                      Case{6912, 2560, 1, NpuGeneration::kNpu2}, Case{2560, 6912, 1, NpuGeneration::kNpu1},
                      Case{2560, 2560, 8, NpuGeneration::kNpu1}, Case{640, 2560, 8, NpuGeneration::kNpu1},
                      Case{6912, 2560, 8, NpuGeneration::kNpu2}, Case{2560, 6912, 8, NpuGeneration::kNpu2}),
    CaseName);

INSTANTIATE_TEST_SUITE_P(
    AwkwardShapes, NpuEmulatorExact,
    ::testing::Values(Case{256, 128, 1, NpuGeneration::kNpu2}, Case{128, 128, 3, NpuGeneration::kNpu2},
                      Case{512, 128, 4, NpuGeneration::kNpu1}, Case{128, 256, 9, NpuGeneration::kNpu2},
                      Case{100, 200, 1, NpuGeneration::kNpu2}, Case{33, 1000, 6, NpuGeneration::kNpu1},
                      Case{1, 130, 2, NpuGeneration::kNpu2}, Case{1000, 384, 1, NpuGeneration::kNpu1}),
    CaseName);

TEST(NpuEmulator, RejectsAWeightBufferOfTheWrongSize) {
  const NpuTilingPlan plan = MakeNpuTilingPlan(64, 128, NpuGeneration::kNpu2);
  std::vector<uint8_t> w(static_cast<size_t>(plan.weight_bytes() - 4), 0x55);
  std::vector<int8_t> x(static_cast<size_t>(plan.x_bytes()));
  std::vector<int32_t> y(static_cast<size_t>(plan.y_bytes() / 4));
  EXPECT_THROW(EmulateNpuDispatch(plan, w.data(), w.size(), x.data(), y.data(), nullptr), Error);
}

// The tile kernel accumulates into c (the design zeroes c once per row tile
// and calls it once per K chunk) for every live token count, and leaves the
// tokens past it untouched.
void CheckTileKernel(int tokens) {
  alignas(64) uint8_t w[bitnet_npu::kTileRows * bitnet_npu::kKChunk / 4];
  alignas(64) int8_t x[bitnet_npu::kMaxTokens * bitnet_npu::kKChunk];
  alignas(64) int32_t c[bitnet_npu::kMaxTokens * bitnet_npu::kTileRows];
  std::mt19937 rng(static_cast<uint32_t>(tokens));
  for (auto& b : w) {
    b = 0;
    for (int j = 0; j < 4; ++j) b |= static_cast<uint8_t>((rng() % 3) << (2 * j));
  }
  for (auto& v : x) v = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
  for (auto& v : c) v = static_cast<int32_t>(rng() % 2001) - 1000;
  std::vector<int32_t> want(c, c + bitnet_npu::kMaxTokens * bitnet_npu::kTileRows);
  for (int t = 0; t < tokens; ++t)
    for (int i = 0; i < bitnet_npu::kTileRows; ++i)
      for (int k = 0; k < bitnet_npu::kKChunk; ++k) {
        const int code = (w[bitnet_npu::TileByte(i, k / 4)] >> (2 * (k % 4))) & 3;
        want[static_cast<size_t>(t * 32 + i)] += (code - 1) * x[bitnet_npu::XByte(t, k)];
      }
  ASSERT_TRUE(bitnet_npu::W2A8TileMacTokens(w, x, c, tokens));
  for (int i = 0; i < bitnet_npu::kMaxTokens * bitnet_npu::kTileRows; ++i) ASSERT_EQ(c[i], want[static_cast<size_t>(i)]) << i;
}

TEST(NpuTileKernel, AccumulatesExactlyForOneToFourTokens) {
  for (int tokens = 1; tokens <= 4; ++tokens) CheckTileKernel(tokens);
  alignas(64) uint8_t w[2048] = {};
  alignas(64) int8_t x[1024] = {};
  alignas(64) int32_t c[128] = {};
  EXPECT_FALSE(bitnet_npu::W2A8TileMacTokens(w, x, c, 0));
  EXPECT_FALSE(bitnet_npu::W2A8TileMacTokens(w, x, c, 5));
}

// The shim's mmul: C (M x N) = A (M x K, row-major) . B (K x N, row-major),
// mac adds; checked against a plain triple loop with int8 x uint8 extremes.
TEST(NpuAieShim, MmulIsTheBlockedMatrixProduct) {
  aie::vector<int8_t, 32> a;
  aie::vector<uint8_t, 64> b;
  std::mt19937 rng(3);
  for (unsigned i = 0; i < 32; ++i) a.set(static_cast<int8_t>(i == 0 ? -128 : static_cast<int>(rng() % 256) - 128), i);
  for (unsigned i = 0; i < 64; ++i) b.set(static_cast<uint8_t>(i == 0 ? 255 : rng() % 256), i);
  aie::mmul<4, 8, 8, int8_t, uint8_t, acc32> m;
  m.mul(a, b);
  m.mac(a, b);
  const auto c = m.to_vector<int32_t>(1);  // (2 A.B) >> 1, exact
  for (int r = 0; r < 4; ++r)
    for (int n = 0; n < 8; ++n) {
      int32_t want = 0;
      for (int k = 0; k < 8; ++k) want += a.get(static_cast<unsigned>(r * 8 + k)) * b.get(static_cast<unsigned>(k * 8 + n));
      ASSERT_EQ(c.get(static_cast<unsigned>(r * 8 + n)), want) << r << "," << n;
    }
  EXPECT_EQ(c.extract<8>(2).get(3), c.get(19));
}

TEST(NpuTileKernel, ShimRejectsMisalignedVectorLoads) {
  alignas(64) uint8_t buf[64] = {};
  EXPECT_NO_THROW(aie::load_v<32>(buf));
  EXPECT_THROW(aie::load_v<32>(buf + 1), std::logic_error);
  EXPECT_THROW(aie::load_v<16>(buf + 8), std::logic_error);
}

// 512-bit and wider vectors need 64-byte alignment on AIE2P (npu2), 32 on AIE2.
TEST(NpuTileKernel, ShimAlignmentFollowsTheGeneration) {
  alignas(64) int32_t buf[64] = {};
  const bool saved = aie::shim_detail::g_aie2p;
  aie::shim_detail::g_aie2p = false;
  EXPECT_NO_THROW(aie::load_v<32>(buf + 8));  // 1024-bit at a 32-byte offset: fine on AIE2
  aie::shim_detail::g_aie2p = true;
  EXPECT_THROW(aie::load_v<32>(buf + 8), std::logic_error);
  EXPECT_NO_THROW(aie::load_v<32>(buf + 16));
  EXPECT_NO_THROW(aie::load_v<8>(buf + 8));  // 256-bit: 32 bytes on both
  aie::shim_detail::g_aie2p = saved;
}

// The shim's accumulator-to-vector conversion: shift, round per the rounding
// register, saturate per the saturation register. Expected values are
// computed independently in floating point.
TEST(NpuAieShim, ToVectorRoundsAndSaturatesPerTheModeRegisters) {
  const int shift = 2;
  aie::vector<int32_t, 16> in;
  const int32_t values[16] = {-11, -10, -9, -7, -6, -5, -2, -1, 0, 1, 2, 5, 6, 7, 9, 10};
  for (unsigned i = 0; i < 16; ++i) in.set(values[i], i);
  aie::accum<acc32, 16> acc;
  acc.from_vector(in, 0);
  auto expected = [](aie::rounding_mode m, double v) -> int64_t {
    const double f = std::floor(v), frac = v - f;
    switch (m) {
      case aie::rounding_mode::floor: return static_cast<int64_t>(f);
      case aie::rounding_mode::ceil: return static_cast<int64_t>(std::ceil(v));
      case aie::rounding_mode::symmetric_floor: return static_cast<int64_t>(std::trunc(v));
      case aie::rounding_mode::symmetric_ceil: return static_cast<int64_t>(v < 0 ? std::floor(v) : std::ceil(v));
      case aie::rounding_mode::positive_inf: return static_cast<int64_t>(std::floor(v + 0.5));
      case aie::rounding_mode::negative_inf: return static_cast<int64_t>(std::ceil(v - 0.5));
      case aie::rounding_mode::symmetric_inf: return static_cast<int64_t>(std::round(v));
      case aie::rounding_mode::symmetric_zero:
        return frac == 0.5 ? static_cast<int64_t>(std::trunc(v)) : static_cast<int64_t>(std::round(v));
      case aie::rounding_mode::conv_even:
        return frac == 0.5 ? static_cast<int64_t>(std::fmod(f, 2) == 0 ? f : f + 1) : static_cast<int64_t>(std::round(v));
      case aie::rounding_mode::conv_odd:
        return frac == 0.5 ? static_cast<int64_t>(std::fmod(f, 2) != 0 ? f : f + 1) : static_cast<int64_t>(std::round(v));
    }
    return 0;
  };
  using RM = aie::rounding_mode;
  for (RM mode : {RM::floor, RM::ceil, RM::symmetric_floor, RM::symmetric_ceil, RM::positive_inf, RM::negative_inf,
                  RM::symmetric_inf, RM::symmetric_zero, RM::conv_even, RM::conv_odd}) {
    aie::set_rounding(mode);
    aie::set_saturation(aie::saturation_mode::saturate);
    const auto out = acc.to_vector<int32_t>(shift);
    for (unsigned i = 0; i < 16; ++i)
      ASSERT_EQ(out.get(i), expected(mode, values[i] / 4.0)) << "mode " << static_cast<int>(mode) << " value " << values[i];
  }
  // Saturation into int8: clamp, symmetric clamp, or wrap.
  aie::vector<int32_t, 16> big;
  for (unsigned i = 0; i < 16; ++i) big.set(i % 2 ? 300 : -300, i);
  aie::accum<acc32, 16> acc_big;
  acc_big.from_vector(big, 0);
  aie::set_saturation(aie::saturation_mode::saturate);
  EXPECT_EQ(acc_big.to_vector<int8_t>(0).get(0), -128);
  EXPECT_EQ(acc_big.to_vector<int8_t>(0).get(1), 127);
  aie::set_saturation(aie::saturation_mode::symmetric);
  EXPECT_EQ(acc_big.to_vector<int8_t>(0).get(0), -127);
  aie::set_saturation(aie::saturation_mode::none);
  EXPECT_EQ(acc_big.to_vector<int8_t>(0).get(1), static_cast<int8_t>(300 - 256));
  aie::set_rounding(aie::rounding_mode::floor);
}

}  // namespace
}  // namespace bitnet

namespace bitnet {
namespace {

// Counts how the backend submits dispatches; computes through the emulator.
class CountingExecutor final : public NpuExecutor {
 public:
  CountingExecutor() : emu_(MakeNpuEmulator(NpuGeneration::kNpu1, nullptr)) {}
  std::string Name() const override { return "npu (counting)"; }
  NpuGeneration generation() const override { return NpuGeneration::kNpu1; }
  bool CanRun(const NpuTilingPlan&, std::string*) const override { return true; }
  int AddMatrix(const NpuTilingPlan& p, std::vector<uint8_t> w) override { return emu_->AddMatrix(p, std::move(w)); }
  void Run(int m, const NpuTilingPlan& p, const int8_t* x, int32_t* y) override {
    ++runs;
    emu_->Run(m, p, x, y);
  }
  void RunBatch(int m, const NpuTilingPlan& p, int count, const int8_t* x, int32_t* y) override {
    batches.push_back(count);
    for (int i = 0; i < count; ++i) emu_->Run(m, p, x + i * p.x_bytes(), y + i * (p.y_bytes() / 4));
  }
  int runs = 0;
  std::vector<int> batches;

 private:
  std::unique_ptr<NpuExecutor> emu_;
};

// A long prefill goes out as one batch of full 4-token dispatches plus one
// dispatch for the rest, and stays bit-exact.
TEST(NpuBackendBatches, LongPrefillIsOneBatchPlusTheRemainder) {
  auto exec = std::make_unique<CountingExecutor>();
  CountingExecutor* counter = exec.get();
  auto backend = MakeNpuBackend(std::move(exec), nullptr);
  const auto m = npu_test::MakeRandomTernary(100, 300, 3);
  const int h = backend->Upload(m.view);
  for (int n : {18, 16, 1}) {
    counter->runs = 0;
    counter->batches.clear();
    std::vector<int32_t> sums;
    const auto x = npu_test::MakeActivations(n, 300, m.view.cols_padded, 40u + static_cast<uint32_t>(n), &sums);
    std::vector<int32_t> want(static_cast<size_t>(n * 100)), got(want.size(), 0);
    ScalarW2A8Kernels().mat_mul(m.view, 0, 100, x.data(), sums.data(), n, want.data(), 100);
    backend->MatMul(h, x.data(), sums.data(), n, got.data());
    EXPECT_EQ(got, want) << n << " tokens";
    EXPECT_EQ(counter->batches, n >= 4 ? std::vector<int>{n / 4} : std::vector<int>{}) << n << " tokens";
    EXPECT_EQ(counter->runs, n % 4 ? 1 : 0) << n << " tokens";
  }
}

}  // namespace
}  // namespace bitnet
