#include "backend/npu/tiling_plan.h"

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace bitnet {
namespace {

constexpr int64_t kShimInnerMax = 1023;    // d0..d2, in 32-bit words, when the stride is not 0
constexpr int64_t kShimRepeatMax = 64;     // d3
constexpr int64_t kShimStrideMaxWords = int64_t{1} << 20;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t ColumnsOf(NpuGeneration g) { return g == NpuGeneration::kNpu1 ? 4 : 8; }

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
  // Every column, always: decode is DDR-bound, so every shim channel should
  // stream, and one core program needs one fifo topology. Every core gets the
  // same row tiles (they all consume the one broadcast activation stream), so
  // rows pad to cores x 32.
  plan.columns = ColumnsOf(generation);
  plan.tiles_per_core = CeilDiv(rows, plan.cores() * NpuTilingPlan::kTileRows);
  plan.rows_per_core = plan.tiles_per_core * NpuTilingPlan::kTileRows;
  Check(plan.tiles_per_core <= kShimRepeatMax, where,
        "too many rows for " + std::string(NpuGenerationName(generation)) + " (at most " +
            std::to_string(kShimRepeatMax * NpuTilingPlan::kTileRows * plan.cores()) + ")");
  Check(plan.k_chunks <= kShimInnerMax, where, "too many columns (K chunks exceed a shim dimension)");
  for (int64_t c = 0; c < plan.columns; ++c) {
    for (int64_t h = 0; h < plan.WeightChannels(c); ++h)
      ValidateNpuTap(plan.WeightTap(c, h), where + " weight tap, column " + std::to_string(c) + " channel " +
                                               std::to_string(h));
    ValidateNpuTap(plan.YTap(c), where + " output tap, column " + std::to_string(c));
  }
  ValidateNpuTap(plan.XTap(), where + " activation tap");
  return plan;
}

// Weights for one shim channel, in the order its fifo consumes them: row tile,
// then K chunk, then core (the mem tile splits each object by core). The
// column's block is laid out per (tile, chunk, core of the column), so
// channel h walks cores 2h, 2h + 1 of every (tile, chunk).
NpuTap NpuTilingPlan::WeightTap(int64_t column, int64_t channel) const {
  const int64_t tb = tile_bytes();
  const int64_t cores_here = CoresInColumn(column);
  NpuTap tap;
  tap.offset = ColumnWeightOffset(column) + channel * kCoresPerChannel * tb;
  tap.sizes = {tiles_per_core, k_chunks, kCoresPerChannel, tb};
  tap.strides = {k_chunks * cores_here * tb, cores_here * tb, tb, 1};
  return tap;
}

// The activation stream, broadcast to every core: for each row tile, all K
// chunks again, each chunk one object (the host packed x chunk by chunk,
// PackActivationsForNpu). The repeat is the outer dim; it is re-read from
// DDR per row tile but only once for the whole array.
NpuTap NpuTilingPlan::XTap() const {
  NpuTap tap;
  tap.offset = 0;
  tap.sizes = {tiles_per_core, k_chunks, 1, x_object_bytes()};
  tap.strides = {0, x_object_bytes(), 0, 1};
  return tap;
}

// Results [kMaxTokens][rows_padded] int32: per tile, per core (joined in the
// mem tile), per token, kTileRows values.
NpuTap NpuTilingPlan::YTap(int64_t column) const {
  NpuTap tap;
  tap.offset = ColumnFirstRow(column) * 4;
  tap.sizes = {tiles_per_core, CoresInColumn(column), kMaxTokens, kTileRows * 4};
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
  nlohmann::json j{
      {"device", NpuGenerationName(generation)},
      {"rows", rows},
      {"cols", cols},
      {"k_padded", k_padded},
      {"tokens", tokens},
      {"tile_rows", kTileRows},
      {"k_chunk", kKChunk},
      {"columns", columns},
      {"cores", cores()},
      {"rows_per_core", rows_per_core},
      {"tiles_per_core", tiles_per_core},
      {"k_chunks", k_chunks},
      {"rows_padded", rows_padded()},
      {"weight_bytes", weight_bytes()},
      {"x_bytes", x_bytes()},
      {"y_bytes", y_bytes()},
      {"max_tokens", kMaxTokens},
  };
  return j.dump(1);
}

}  // namespace bitnet
