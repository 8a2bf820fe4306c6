#include "backend/npu/tiling_plan.h"

#include <nlohmann/json.hpp>
#include <tuple>

#include "util/error.h"

namespace bitnet {
namespace {

constexpr int64_t kCoresPerColumnMax = 4;  // rows 2-5 of every column
constexpr int64_t kShimInnerMax = 1023;    // d0..d2, in 32-bit words, when the stride is not 0
constexpr int64_t kShimRepeatMax = 64;     // d3
constexpr int64_t kShimStrideMaxWords = int64_t{1} << 20;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t ColumnsOf(NpuGeneration g) { return g == NpuGeneration::kNpu1 ? 4 : 8; }

// Decode is DDR-bound, so the cost of a mapping is the larger of the bytes the
// shims read (rows_padded) and the slowest core's work (rows_per_core), both
// per unit of K. The ratio assumes ~50 GB/s of DDR and ~16 unpacked weights per
// cycle per core at ~1 GHz; it is a paper estimate, not a measurement.
constexpr int64_t kCoreCostPerRow = 12;

}  // namespace

const char* NpuGenerationName(NpuGeneration g) { return g == NpuGeneration::kNpu1 ? "npu1" : "npu2"; }

NpuGeneration ParseNpuGeneration(const std::string& s) {
  if (s == "npu1") return NpuGeneration::kNpu1;
  if (s == "npu2") return NpuGeneration::kNpu2;
  throw Error("npu generation: unknown '" + s + "' (expected npu1 or npu2)");
}

NpuTilingPlan MakeNpuTilingPlan(int64_t rows, int64_t cols, NpuGeneration generation, int64_t tokens) {
  const std::string where = "npu plan " + std::to_string(rows) + "x" + std::to_string(cols);
  Check(rows > 0 && cols > 0, where, "rows and cols must be positive");
  Check(tokens >= 1 && tokens <= kNpuMaxTokensPerDispatch, where,
        "tokens per dispatch must be 1.." + std::to_string(kNpuMaxTokensPerDispatch));
  NpuTilingPlan plan;
  plan.generation = generation;
  plan.rows = rows;
  plan.cols = cols;
  plan.tokens = tokens;
  plan.k_padded = CeilDiv(cols, NpuTilingPlan::kKChunk) * NpuTilingPlan::kKChunk;
  plan.k_chunks = plan.k_padded / NpuTilingPlan::kKChunk;

  using Score = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // cost, rows_padded, rows_per_core, -columns
  bool found = false;
  Score best{};
  const int64_t groups = CeilDiv(rows, NpuTilingPlan::kTileRows);
  for (int64_t columns = 1; columns <= ColumnsOf(generation); ++columns) {
    for (int64_t cpc = 1; cpc <= kCoresPerColumnMax; ++cpc) {
      const int64_t cores = columns * cpc;
      if (cores > groups && cores > 1) continue;  // a core with no rows only adds padding
      const int64_t tiles = CeilDiv(groups, cores);
      if (tiles > kShimRepeatMax) continue;  // the activation repeat is d3 of its tap
      const int64_t rows_per_core = tiles * NpuTilingPlan::kTileRows;
      const int64_t rows_padded = rows_per_core * cores;
      const Score score{std::max(rows_padded, kCoreCostPerRow * rows_per_core), rows_padded, rows_per_core, -columns};
      if (!found || score < best) {
        found = true;
        best = score;
        plan.columns = columns;
        plan.cores_per_column = cpc;
        plan.tiles_per_core = tiles;
        plan.rows_per_core = rows_per_core;
      }
    }
  }
  Check(found, where,
        "too many rows for " + std::string(NpuGenerationName(generation)) + " (at most " +
            std::to_string(kShimRepeatMax * NpuTilingPlan::kTileRows * ColumnsOf(generation) * kCoresPerColumnMax) + ")");
  Check(plan.l1_bytes() <= NpuTilingPlan::kL1Budget, where, "core buffers exceed the L1 budget");
  for (int64_t c = 0; c < plan.columns; ++c) {
    ValidateNpuTap(plan.WeightTap(c), where + " weight tap, column " + std::to_string(c));
    ValidateNpuTap(plan.YTap(c), where + " output tap, column " + std::to_string(c));
  }
  ValidateNpuTap(plan.XTap(), where + " activation tap");
  return plan;
}

// Weights for one column, in the order the column's fifo consumes them:
// tile t, then K chunk, then core (the mem tile splits each object by core).
NpuTap NpuTilingPlan::WeightTap(int64_t column) const {
  const int64_t tb = tile_bytes();
  NpuTap tap;
  tap.offset = column * weight_bytes_per_column();
  tap.sizes = {tiles_per_core, k_chunks, cores_per_column, tb};
  tap.strides = {k_chunks * cores_per_column * tb, cores_per_column * tb, tb, 1};
  return tap;
}

// Every column gets the same activation stream: for each row tile, all K
// chunks again, each chunk [tokens][kKChunk]. The repeat is the outer dim.
NpuTap NpuTilingPlan::XTap() const {
  NpuTap tap;
  tap.offset = 0;
  tap.sizes = {tiles_per_core, k_chunks, tokens, kKChunk};
  tap.strides = {0, kKChunk, k_padded, 1};
  return tap;
}

// Results [tokens][rows_padded] int32: per tile, per core (joined in the mem
// tile), per token, kTileRows values.
NpuTap NpuTilingPlan::YTap(int64_t column) const {
  NpuTap tap;
  tap.offset = column * rows_per_column() * 4;
  tap.sizes = {tiles_per_core, cores_per_column, tokens, kTileRows * 4};
  tap.strides = {kTileRows * 4, rows_per_core * 4, rows_padded() * 4, 1};
  return tap;
}

void ValidateNpuTap(const NpuTap& tap, const std::string& what) {
  Check(tap.offset % 4 == 0, what, "offset is not a multiple of 4 bytes");
  Check(tap.strides[3] == 1, what, "innermost dimension must be contiguous");
  Check(tap.sizes[3] % 4 == 0, what, "innermost size is not a multiple of 4 bytes");
  for (int d = 0; d < 4; ++d) {
    Check(tap.sizes[d] >= 1, what, "dimension " + std::to_string(d) + " is empty");
    if (d < 3) Check(tap.strides[d] % 4 == 0, what, "stride " + std::to_string(d) + " is not a multiple of 4 bytes");
    Check(tap.strides[d] / 4 <= kShimStrideMaxWords, what, "stride " + std::to_string(d) + " exceeds 2^20 words");
  }
  const int64_t inner_words = tap.sizes[3] / 4;
  Check(inner_words <= kShimInnerMax, what,
        "innermost size " + std::to_string(inner_words) + " words exceeds " + std::to_string(kShimInnerMax));
  for (int d = 1; d < 3; ++d)
    Check(tap.strides[d] == 0 || tap.sizes[d] <= kShimInnerMax, what,
          "size of dimension " + std::to_string(d) + " = " + std::to_string(tap.sizes[d]) + " exceeds " +
              std::to_string(kShimInnerMax));
  Check(tap.sizes[0] <= kShimRepeatMax, what,
        "outer repeat " + std::to_string(tap.sizes[0]) + " exceeds " + std::to_string(kShimRepeatMax));
}

std::string NpuTilingPlan::ShapeName() const { return std::to_string(rows) + "x" + std::to_string(cols); }

std::string NpuTilingPlan::ToJson() const {
  auto tap_json = [](const NpuTap& t) {
    return nlohmann::json{{"offset", t.offset}, {"sizes", t.sizes}, {"strides", t.strides}};
  };
  nlohmann::json j{
      {"device", NpuGenerationName(generation)},
      {"rows", rows},
      {"cols", cols},
      {"k_padded", k_padded},
      {"tokens", tokens},
      {"tile_rows", kTileRows},
      {"k_chunk", kKChunk},
      {"columns", columns},
      {"cores_per_column", cores_per_column},
      {"rows_per_core", rows_per_core},
      {"tiles_per_core", tiles_per_core},
      {"k_chunks", k_chunks},
      {"rows_padded", rows_padded()},
      {"weight_bytes", weight_bytes()},
      {"x_bytes", x_bytes()},
      {"y_bytes", y_bytes()},
      {"l1_bytes", l1_bytes()},
  };
  j["x_tap"] = tap_json(XTap());
  for (int64_t c = 0; c < columns; ++c) {
    j["weight_taps"].push_back(tap_json(WeightTap(c)));
    j["y_taps"].push_back(tap_json(YTap(c)));
  }
  return j.dump(1);
}

}  // namespace bitnet
