#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "backend/npu/tiling_plan.h"
#include "util/error.h"

namespace bitnet {
namespace {

constexpr std::array<std::array<int64_t, 2>, 4> kRealShapes = {{{3840, 2560}, {2560, 2560}, {13824, 2560}, {2560, 6912}}};

int64_t TapBytes(const NpuTap& t) { return t.sizes[0] * t.sizes[1] * t.sizes[2] * t.sizes[3]; }

TEST(NpuPlan, RealShapesRespectLimitsAndCoverEveryRow) {
  for (auto gen : {NpuGeneration::kNpu1, NpuGeneration::kNpu2})
    for (int64_t tokens : {int64_t{1}, kNpuMaxTokensPerDispatch})
      for (auto [rows, cols] : kRealShapes) {
        SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols) + " " + NpuGenerationName(gen));
        const NpuTilingPlan p = MakeNpuTilingPlan(rows, cols, gen, tokens);
        // Every column, four cores each but two in column 0, for every shape.
        EXPECT_EQ(p.columns, gen == NpuGeneration::kNpu1 ? 4 : 8);
        EXPECT_EQ(p.cores(), 4 * p.columns - 2);
        EXPECT_EQ(p.rows_padded() % (p.cores() * NpuTilingPlan::kTileRows), 0);
        EXPECT_GE(p.rows_padded(), rows);
        EXPECT_LT(p.rows_padded() - rows, p.cores() * NpuTilingPlan::kTileRows);
        EXPECT_EQ(p.k_padded % NpuTilingPlan::kKChunk, 0);
        EXPECT_GE(p.k_padded, cols);
        EXPECT_LE(NpuTilingPlan::l1_bytes(), NpuTilingPlan::kL1Budget);
        int64_t weight_bytes = 0, y_bytes = 0, channels = 0;
        for (int64_t c = 0; c < p.columns; ++c) {
          for (int64_t h = 0; h < p.WeightChannels(c); ++h) {
            weight_bytes += TapBytes(p.WeightTap(c, h));
            // Balanced: every weight channel carries the same bytes.
            EXPECT_EQ(TapBytes(p.WeightTap(c, h)), TapBytes(p.WeightTap(0, 0))) << "column " << c << " channel " << h;
          }
          channels += p.WeightChannels(c);
          y_bytes += TapBytes(p.YTap(c));
        }
        // Both MM2S channels of every shim but the one that sends x carry weights.
        EXPECT_EQ(channels, 2 * p.columns - 1);
        EXPECT_EQ(weight_bytes, p.weight_bytes());
        EXPECT_EQ(y_bytes, p.y_bytes());
        // x crosses DDR once per row tile for the whole array, not once per column.
        EXPECT_EQ(TapBytes(p.XTap()), p.tiles_per_core * p.x_bytes());
      }
}

// The weight channels of a column together read each byte of its block once.
TEST(NpuPlan, WeightChannelsReadEveryByteOnce) {
  for (auto gen : {NpuGeneration::kNpu1, NpuGeneration::kNpu2}) {
    const NpuTilingPlan p = MakeNpuTilingPlan(1000, 700, gen);
    std::vector<int> reads(static_cast<size_t>(p.weight_bytes()), 0);
    for (int64_t c = 0; c < p.columns; ++c)
      for (int64_t h = 0; h < p.WeightChannels(c); ++h) {
        const NpuTap t = p.WeightTap(c, h);
        for (int64_t a = 0; a < t.sizes[0]; ++a)
          for (int64_t b = 0; b < t.sizes[1]; ++b)
            for (int64_t d = 0; d < t.sizes[2]; ++d)
              for (int64_t e = 0; e < t.sizes[3]; ++e) {
                const int64_t at = t.offset + a * t.strides[0] + b * t.strides[1] + d * t.strides[2] + e;
                ASSERT_GE(at, p.ColumnWeightOffset(c));
                ASSERT_LT(at, p.ColumnWeightOffset(c) + p.ColumnWeightBytes(c)) << "column " << c << " reads another's block";
                ++reads[static_cast<size_t>(at)];
              }
      }
    for (size_t i = 0; i < reads.size(); ++i) ASSERT_EQ(reads[i], 1) << "byte " << i;
  }
}

TEST(NpuPlan, LongKIsSplitIntoChunksWithinTheShimLimits) {
  const NpuTilingPlan p = MakeNpuTilingPlan(2560, 6912, NpuGeneration::kNpu2);
  EXPECT_EQ(p.k_chunks, 27);
  EXPECT_LE(p.XTap().sizes[3] / 4, 1023);  // a whole 6912-byte row would be 1728 words
}

TEST(NpuPlan, SmallShapesStillUseTheWholeArray) {
  const NpuTilingPlan p = MakeNpuTilingPlan(33, 1000, NpuGeneration::kNpu2);
  EXPECT_EQ(p.cores(), 30);
  EXPECT_EQ(p.rows_padded(), 960);
  EXPECT_EQ(p.tiles_per_core, 1);
}

TEST(NpuPlan, TapValidatorRejectsEachShimLimit) {
  NpuTap ok;
  ok.sizes = {1, 2, 3, 64};
  ok.strides = {0, 64, 128, 1};
  EXPECT_NO_THROW(ValidateNpuTap(ok, "ok"));
  NpuTap inner = ok;
  inner.sizes[3] = 1024 * 4;
  EXPECT_THROW(ValidateNpuTap(inner, "inner"), Error);
  NpuTap repeat = ok;
  repeat.sizes[0] = 65;
  EXPECT_THROW(ValidateNpuTap(repeat, "repeat"), Error);
  NpuTap odd = ok;
  odd.sizes[3] = 66;
  EXPECT_THROW(ValidateNpuTap(odd, "odd size"), Error);
  NpuTap offset = ok;
  offset.offset = 2;
  EXPECT_THROW(ValidateNpuTap(offset, "offset"), Error);
  NpuTap mid = ok;
  mid.sizes[1] = 1024;
  EXPECT_THROW(ValidateNpuTap(mid, "d1"), Error);
}

TEST(NpuPlan, RejectsShapesItCannotMap) {
  EXPECT_THROW(MakeNpuTilingPlan(0, 128, NpuGeneration::kNpu2), Error);
  EXPECT_THROW(MakeNpuTilingPlan(128, 128, NpuGeneration::kNpu2, 0), Error);
  EXPECT_THROW(MakeNpuTilingPlan(128, 128, NpuGeneration::kNpu2, kNpuMaxTokensPerDispatch + 1), Error);
  // 64 tiles of 32 rows on each of 14 cores is npu1's ceiling, 30 cores npu2's.
  EXPECT_NO_THROW(MakeNpuTilingPlan(64 * 32 * 14, 128, NpuGeneration::kNpu1));
  EXPECT_THROW(MakeNpuTilingPlan(64 * 32 * 14 + 1, 128, NpuGeneration::kNpu1), Error);
  EXPECT_NO_THROW(MakeNpuTilingPlan(64 * 32 * 30, 128, NpuGeneration::kNpu2));
  EXPECT_THROW(MakeNpuTilingPlan(64 * 32 * 30 + 1, 128, NpuGeneration::kNpu2), Error);
}

}  // namespace
}  // namespace bitnet
