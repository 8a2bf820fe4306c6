#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <unistd.h>

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
        EXPECT_GE(p.rows_padded(), rows);
        EXPECT_LT(p.rows_padded() - rows, p.cores() * NpuTilingPlan::kTileRows);
        EXPECT_LE(p.columns, gen == NpuGeneration::kNpu1 ? 4 : 8);
        EXPECT_LE(p.cores_per_column, 4);
        EXPECT_EQ(p.k_padded % NpuTilingPlan::kKChunk, 0);
        EXPECT_GE(p.k_padded, cols);
        EXPECT_LE(p.l1_bytes(), NpuTilingPlan::kL1Budget);
        int64_t weight_bytes = 0, y_bytes = 0;
        for (int64_t c = 0; c < p.columns; ++c) {
          weight_bytes += TapBytes(p.WeightTap(c));
          y_bytes += TapBytes(p.YTap(c));
        }
        EXPECT_EQ(weight_bytes, p.weight_bytes());
        EXPECT_EQ(y_bytes, p.y_bytes());
        // The activation stream repeats the whole vector once per row tile.
        EXPECT_EQ(TapBytes(p.XTap()), p.tiles_per_core * p.x_bytes());
      }
}

TEST(NpuPlan, LongKIsSplitIntoChunksWithinTheShimLimits) {
  const NpuTilingPlan p = MakeNpuTilingPlan(2560, 6912, NpuGeneration::kNpu2);
  EXPECT_EQ(p.k_chunks, 27);
  EXPECT_LE(p.XTap().sizes[3] / 4, 1023);  // a whole 6912-byte row would be 1728 words
}

TEST(NpuPlan, DecodeIsNotWorseThanAUniformSplitOverAllCores) {
  // On npu2, 2560 rows over all 32 cores pads to 3072 rows; the plan must
  // not read more weight bytes than that.
  const NpuTilingPlan p = MakeNpuTilingPlan(2560, 2560, NpuGeneration::kNpu2);
  EXPECT_LE(p.rows_padded(), 3072);
  EXPECT_GE(p.cores(), 16);
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
  // 64 tiles of 32 rows on each of 16 cores is npu1's ceiling.
  EXPECT_NO_THROW(MakeNpuTilingPlan(64 * 32 * 16, 128, NpuGeneration::kNpu1));
  EXPECT_THROW(MakeNpuTilingPlan(64 * 32 * 16 + 1, 128, NpuGeneration::kNpu1), Error);
}

// The IRON design derives its DMA patterns and loop counts from the plan's
// scalar fields on its own; they must equal the C++ ones.
TEST(NpuPlan, PythonDesignDerivesTheSameDmaProgram) {
  if (std::system("python3 -c 'import json' >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not available";
  const std::string script = std::string(BITNET_SOURCE_DIR) + "/npu/designs/bitlinear_gemv.py";
  const auto dir = std::filesystem::temp_directory_path() / ("npu_plan_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  struct Case { int64_t rows, cols, tokens; NpuGeneration gen; };
  std::vector<Case> cases = {{128, 128, 1, NpuGeneration::kNpu2}, {100, 200, 4, NpuGeneration::kNpu1}};
  for (auto [rows, cols] : kRealShapes)
    for (auto gen : {NpuGeneration::kNpu1, NpuGeneration::kNpu2}) cases.push_back({rows, cols, 1, gen});
  for (const Case& c : cases) {
    const NpuTilingPlan plan = MakeNpuTilingPlan(c.rows, c.cols, c.gen, c.tokens);
    SCOPED_TRACE(plan.ShapeName() + " " + NpuGenerationName(c.gen));
    const auto plan_path = dir / "plan.json";
    std::ofstream(plan_path) << plan.ToJson();
    const std::string cmd = "python3 '" + script + "' --plan '" + plan_path.string() + "' --dump-plan";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
    ASSERT_TRUE(pipe);
    std::string out;
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof(buf), pipe.get())) out.append(buf, n);
    const int status = pclose(pipe.release());
    ASSERT_EQ(status, 0) << cmd << "\n" << out;
    const auto py = nlohmann::json::parse(out);
    const auto cpp = nlohmann::json::parse(plan.ToJson());
    for (const char* key : {"x_tap", "weight_taps", "y_taps"}) EXPECT_EQ(py.at(key), cpp.at(key)) << key;
    EXPECT_EQ(py.at("kernel_calls_per_core"), plan.steps_per_core());
    EXPECT_EQ(py.at("weight_object_bytes"), plan.cores_per_column * NpuTilingPlan::tile_bytes());
    EXPECT_EQ(py.at("x_object_bytes"), plan.tokens * NpuTilingPlan::kKChunk);
    EXPECT_EQ(py.at("y_object_bytes"), plan.cores_per_column * plan.tokens * NpuTilingPlan::kTileRows * 4);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bitnet
