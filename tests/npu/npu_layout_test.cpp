#include <gtest/gtest.h>

#include "backend/npu/npu_layout.h"
#include "npu_test_util.h"
#include "util/error.h"

namespace bitnet {
namespace {

struct Shape { int64_t rows, cols; NpuGeneration gen; };
void PrintTo(const Shape& s, std::ostream* os) { *os << s.rows << "x" << s.cols << " " << NpuGenerationName(s.gen); }

class NpuLayout : public ::testing::TestWithParam<Shape> {};

TEST_P(NpuLayout, RoundTripsAndPadsWithZeroWeights) {
  const Shape s = GetParam();
  const auto m = npu_test::MakeRandomTernary(s.rows, s.cols, static_cast<uint32_t>(s.rows * 31 + s.cols));
  const NpuTilingPlan plan = MakeNpuTilingPlan(s.rows, m.view.cols_padded, s.gen);
  const std::vector<uint8_t> packed = PackForNpu(m.view, plan);
  ASSERT_EQ(static_cast<int64_t>(packed.size()), plan.weight_bytes());
  const std::vector<int8_t> back = UnpackFromNpu(packed, plan);
  for (int64_t r = 0; r < plan.rows_padded(); ++r)
    for (int64_t k = 0; k < plan.k_padded; ++k) {
      const int8_t want = (r < s.rows && k < s.cols) ? m.values[static_cast<size_t>(r * s.cols + k)] : 0;
      ASSERT_EQ(back[static_cast<size_t>(r * plan.k_padded + k)], want) << "row " << r << " col " << k;
    }
}

INSTANTIATE_TEST_SUITE_P(Shapes, NpuLayout,
                         ::testing::Values(Shape{256, 128, NpuGeneration::kNpu2}, Shape{100, 200, NpuGeneration::kNpu2},
                                           Shape{257, 384, NpuGeneration::kNpu1}, Shape{1, 130, NpuGeneration::kNpu1},
                                           Shape{3840, 2560, NpuGeneration::kNpu2}, Shape{2560, 6912, NpuGeneration::kNpu1}));

TEST(NpuLayoutTiles, TileBytesFollowTheDocumentedEncoding) {
  // One nonzero weight at a known place must land in the byte and bits the
  // kernel reads: column quad q = (k % 256) / 4, byte = row in tile, bits 2j.
  const int64_t rows = 64, cols = 512;
  std::vector<int8_t> w(static_cast<size_t>(rows * cols), 0);
  const int64_t r = 37, k = 300;  // tile 1 of core 0 (or core 1), chunk 1
  w[static_cast<size_t>(r * cols + k)] = -1;
  const auto packed_cpu = PackTernaryRows(w.data(), rows, cols);
  TernaryMatrixView v{rows, cols, cols, packed_cpu.data()};
  const NpuTilingPlan plan = MakeNpuTilingPlan(rows, cols, NpuGeneration::kNpu2);
  const auto packed = PackForNpu(v, plan);
  const int64_t core_global = r / plan.rows_per_core;
  int64_t column = 0;
  while (column + 1 < plan.columns && NpuTilingPlan::FirstCoreOfColumn(column + 1) <= core_global) ++column;
  const int64_t core = core_global - NpuTilingPlan::FirstCoreOfColumn(column);
  const int64_t tile = (r % plan.rows_per_core) / NpuTilingPlan::kTileRows;
  // The documented block order, written out: row group, quad block, quad, row.
  const int64_t quad = (k % 256) / 4, i = r % 32;
  const int64_t in_tile = ((i / 8) * 8 + quad / 8) * 64 + (quad % 8) * 8 + i % 8;
  const int64_t at = NpuTileOffset(plan, column, tile, k / 256, core) + in_tile;
  const int j = static_cast<int>(k % 4);
  EXPECT_EQ((packed[static_cast<size_t>(at)] >> (2 * j)) & 3, 0);  // code 0 = weight -1
  size_t non_neutral = 0;
  for (uint8_t b : packed) non_neutral += b != 0x55;
  EXPECT_EQ(non_neutral, 1u);
}

// The activation buffer round-trips, zero past the tokens and columns, and
// each mmul A block holds 4 tokens x 8 activations of one column phase j.
TEST(NpuLayoutActivations, RoundTripAndBlockOrder) {
  const NpuTilingPlan plan = MakeNpuTilingPlan(64, 640, NpuGeneration::kNpu1, 3);
  std::vector<int32_t> sums;
  const auto x = npu_test::MakeActivations(3, 600, 600, 9, &sums);
  std::vector<int8_t> packed(static_cast<size_t>(plan.x_bytes()), 99);
  PackActivationsForNpu(x.data(), 3, 600, plan, packed.data());
  const auto back = UnpackActivationsFromNpu(packed.data(), plan);
  for (int64_t t = 0; t < 4; ++t)
    for (int64_t k = 0; k < plan.k_padded; ++k)
      ASSERT_EQ(back[static_cast<size_t>(t * plan.k_padded + k)], t < 3 && k < 600 ? x[static_cast<size_t>(t * 600 + k)] : 0)
          << "token " << t << " k " << k;
  // Chunk 1, j = 2, quad block 3, token 1, quad 5 of the block: k = 256 + 4 * (8 * 3 + 5) + 2.
  EXPECT_EQ(packed[static_cast<size_t>(1024 + ((2 * 8 + 3) * 4 + 1) * 8 + 5)], x[static_cast<size_t>(600 + 256 + 4 * 29 + 2)]);
  EXPECT_THROW(PackActivationsForNpu(x.data(), 5, 600, plan, packed.data()), Error);
  EXPECT_THROW(PackActivationsForNpu(x.data(), 3, plan.k_padded + 1, plan, packed.data()), Error);
}

TEST(NpuLayoutTiles, RejectsCode3AndMismatchedPlans) {
  const auto m = npu_test::MakeRandomTernary(64, 128, 7);
  const NpuTilingPlan plan = MakeNpuTilingPlan(64, 128, NpuGeneration::kNpu2);
  auto packed = PackForNpu(m.view, plan);
  packed[5] |= 0x03;
  EXPECT_THROW(UnpackFromNpu(packed, plan), Error);
  packed.pop_back();
  EXPECT_THROW(UnpackFromNpu(packed, plan), Error);
  const NpuTilingPlan other = MakeNpuTilingPlan(96, 128, NpuGeneration::kNpu2);
  EXPECT_THROW(PackForNpu(m.view, other), Error);
}

}  // namespace
}  // namespace bitnet
