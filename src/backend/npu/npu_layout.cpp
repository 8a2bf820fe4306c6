#include "backend/npu/npu_layout.h"

#include <algorithm>
#include <string>

#include "util/error.h"
#include "w2a8_tile.h"

namespace bitnet {

int64_t NpuTileOffset(const NpuTilingPlan& plan, int64_t column, int64_t tile, int64_t chunk, int64_t core) {
  const int64_t tb = NpuTilingPlan::tile_bytes();
  return plan.ColumnWeightOffset(column) +
         ((tile * plan.k_chunks + chunk) * NpuTilingPlan::CoresInColumn(column) + core) * tb;
}

namespace {

static_assert(bitnet_npu::kTileRows == NpuTilingPlan::kTileRows && bitnet_npu::kKChunk == NpuTilingPlan::kKChunk &&
                  bitnet_npu::kMaxTokens == NpuTilingPlan::kMaxTokens,
              "kernel and plan disagree on the tile");

// Calls fn(row, tile_base, row_in_tile, cores_in_column) for every padded
// row: tile_base is the byte of its chunk-0 tile; chunk c adds
// c * cores_in_column * tile_bytes.
template <typename Fn>
void ForEachPaddedRow(const NpuTilingPlan& plan, Fn fn) {
  for (int64_t column = 0; column < plan.columns; ++column)
    for (int64_t core = 0; core < NpuTilingPlan::CoresInColumn(column); ++core)
      for (int64_t tile = 0; tile < plan.tiles_per_core; ++tile)
        for (int64_t i = 0; i < NpuTilingPlan::kTileRows; ++i) {
          const int64_t row = plan.ColumnFirstRow(column) + core * plan.rows_per_core +
                              tile * NpuTilingPlan::kTileRows + i;
          fn(row, NpuTileOffset(plan, column, tile, 0, core), static_cast<int>(i), NpuTilingPlan::CoresInColumn(column));
        }
}

}  // namespace

std::vector<uint8_t> PackForNpu(const TernaryMatrixView& w, const NpuTilingPlan& plan) {
  Check(w.rows == plan.rows && w.cols_padded == plan.cols, "PackForNpu",
        "matrix " + std::to_string(w.rows) + "x" + std::to_string(w.cols_padded) + " does not match plan " +
            plan.ShapeName());
  // Every byte starts as four codes 1 (weight 0), so padding needs no pass.
  std::vector<uint8_t> out(static_cast<size_t>(plan.weight_bytes()), 0x55);
  std::vector<int8_t> row_values(static_cast<size_t>(w.cols_padded));
  ForEachPaddedRow(plan, [&](int64_t row, int64_t base, int i, int64_t cores_here) {
    const int64_t chunk_stride = cores_here * NpuTilingPlan::tile_bytes();
    if (row >= w.rows) return;
    // Row r of the CPU layout, unpacked once (blocks of 128: byte b -> b, b+32, b+64, b+96).
    const uint8_t* src = w.row(row);
    for (int64_t blk = 0; blk < w.cols_padded / kTernaryBlock; ++blk)
      for (int b = 0; b < 32; ++b) {
        const int byte = src[blk * kTernaryBlockBytes + b];
        for (int part = 0; part < 4; ++part)
          row_values[static_cast<size_t>(blk * kTernaryBlock + part * 32 + b)] =
              static_cast<int8_t>((byte >> (6 - 2 * part)) & 3);
      }
    for (int64_t k = 0; k < w.cols_padded; k += 4) {
      const int64_t chunk = k / NpuTilingPlan::kKChunk;
      const int64_t quad = (k % NpuTilingPlan::kKChunk) / 4;
      uint8_t byte = 0;
      for (int j = 0; j < 4; ++j) byte |= static_cast<uint8_t>(row_values[static_cast<size_t>(k + j)] << (2 * j));
      out[static_cast<size_t>(base + chunk * chunk_stride + bitnet_npu::TileByte(i, static_cast<int>(quad)))] = byte;
    }
  });
  return out;
}

std::vector<int8_t> UnpackFromNpu(const std::vector<uint8_t>& packed, const NpuTilingPlan& plan) {
  Check(static_cast<int64_t>(packed.size()) == plan.weight_bytes(), "UnpackFromNpu",
        "buffer has " + std::to_string(packed.size()) + " bytes, plan " + plan.ShapeName() + " needs " +
            std::to_string(plan.weight_bytes()));
  const int64_t k_padded = plan.k_padded;
  std::vector<int8_t> w(static_cast<size_t>(plan.rows_padded() * k_padded));
  ForEachPaddedRow(plan, [&](int64_t row, int64_t base, int i, int64_t cores_here) {
    const int64_t chunk_stride = cores_here * NpuTilingPlan::tile_bytes();
    for (int64_t k = 0; k < k_padded; k += 4) {
      const int64_t chunk = k / NpuTilingPlan::kKChunk;
      const int64_t quad = (k % NpuTilingPlan::kKChunk) / 4;
      const uint8_t byte =
          packed[static_cast<size_t>(base + chunk * chunk_stride + bitnet_npu::TileByte(i, static_cast<int>(quad)))];
      for (int j = 0; j < 4; ++j) {
        const int code = (byte >> (2 * j)) & 3;
        Check(code != 3, "UnpackFromNpu", "code 3 at row " + std::to_string(row) + ", column " + std::to_string(k + j));
        w[static_cast<size_t>(row * k_padded + k + j)] = static_cast<int8_t>(code - 1);
      }
    }
  });
  return w;
}

void PackActivationsForNpu(const int8_t* x, int tokens, int64_t cols, const NpuTilingPlan& plan, int8_t* out) {
  Check(tokens >= 0 && tokens <= NpuTilingPlan::kMaxTokens, "PackActivationsForNpu",
        "tokens " + std::to_string(tokens) + " outside 0.." + std::to_string(NpuTilingPlan::kMaxTokens));
  Check(cols >= 0 && cols <= plan.k_padded, "PackActivationsForNpu",
        "cols " + std::to_string(cols) + " exceed the plan's " + std::to_string(plan.k_padded));
  std::fill(out, out + plan.x_bytes(), int8_t{0});
  for (int t = 0; t < tokens; ++t)
    for (int64_t k = 0; k < cols; ++k)
      out[(k / NpuTilingPlan::kKChunk) * NpuTilingPlan::x_object_bytes() +
          bitnet_npu::XByte(t, static_cast<int>(k % NpuTilingPlan::kKChunk))] = x[t * cols + k];
}

std::vector<int8_t> UnpackActivationsFromNpu(const int8_t* packed, const NpuTilingPlan& plan) {
  std::vector<int8_t> x(static_cast<size_t>(NpuTilingPlan::kMaxTokens * plan.k_padded));
  for (int t = 0; t < NpuTilingPlan::kMaxTokens; ++t)
    for (int64_t k = 0; k < plan.k_padded; ++k)
      x[static_cast<size_t>(t * plan.k_padded + k)] =
          packed[(k / NpuTilingPlan::kKChunk) * NpuTilingPlan::x_object_bytes() +
                 bitnet_npu::XByte(t, static_cast<int>(k % NpuTilingPlan::kKChunk))];
  return x;
}

}  // namespace bitnet
