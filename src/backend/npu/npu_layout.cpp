#include "backend/npu/npu_layout.h"

#include <string>

#include "util/error.h"

namespace bitnet {

int64_t NpuTileOffset(const NpuTilingPlan& plan, int64_t column, int64_t tile, int64_t chunk, int64_t core) {
  const int64_t tb = NpuTilingPlan::tile_bytes();
  return plan.ColumnWeightOffset(column) +
         ((tile * plan.k_chunks + chunk) * NpuTilingPlan::CoresInColumn(column) + core) * tb;
}

namespace {

// Calls fn(row, tile_byte_base, cores_in_column) for every padded row:
// tile_byte_base is the byte of that row in quad 0 of chunk 0; chunk c adds
// c * cores_in_column * tile_bytes.
template <typename Fn>
void ForEachPaddedRow(const NpuTilingPlan& plan, Fn fn) {
  for (int64_t column = 0; column < plan.columns; ++column)
    for (int64_t core = 0; core < NpuTilingPlan::CoresInColumn(column); ++core)
      for (int64_t tile = 0; tile < plan.tiles_per_core; ++tile)
        for (int64_t i = 0; i < NpuTilingPlan::kTileRows; ++i) {
          const int64_t row = plan.ColumnFirstRow(column) + core * plan.rows_per_core +
                              tile * NpuTilingPlan::kTileRows + i;
          fn(row, NpuTileOffset(plan, column, tile, 0, core) + i, NpuTilingPlan::CoresInColumn(column));
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
  ForEachPaddedRow(plan, [&](int64_t row, int64_t base, int64_t cores_here) {
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
      out[static_cast<size_t>(base + chunk * chunk_stride + quad * NpuTilingPlan::kTileRows)] = byte;
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
  ForEachPaddedRow(plan, [&](int64_t row, int64_t base, int64_t cores_here) {
    const int64_t chunk_stride = cores_here * NpuTilingPlan::tile_bytes();
    for (int64_t k = 0; k < k_padded; k += 4) {
      const int64_t chunk = k / NpuTilingPlan::kKChunk;
      const int64_t quad = (k % NpuTilingPlan::kKChunk) / 4;
      const uint8_t byte = packed[static_cast<size_t>(base + chunk * chunk_stride + quad * NpuTilingPlan::kTileRows)];
      for (int j = 0; j < 4; ++j) {
        const int code = (byte >> (2 * j)) & 3;
        Check(code != 3, "UnpackFromNpu", "code 3 at row " + std::to_string(row) + ", column " + std::to_string(k + j));
        w[static_cast<size_t>(row * k_padded + k + j)] = static_cast<int8_t>(code - 1);
      }
    }
  });
  return w;
}

}  // namespace bitnet
