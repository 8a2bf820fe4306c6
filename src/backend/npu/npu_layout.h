// The DDR weight buffer the NPU design streams, owned by one pair of
// functions. Order (matching NpuTilingPlan::WeightTap): column, then row tile
// t, then K chunk, then core of the column (2 in column 0, else 4), then the
// tile itself, whose bytes follow bitnet_npu::TileByte (npu/kernels/w2a8_tile.h:
// 8-quad x 8-row blocks, the aie::mmul B operand). A tile is kTileRows x
// kKChunk weights as kKChunk/4 column quads of kTileRows bytes: byte i of quad
// q holds the codes u = w + 1 of W[row i][4q + j] in bits 2j+1..2j (j = 0..3),
// so the core unpacks one 32-row weight vector per column with a shift and a
// mask. Rows past `rows` and columns past `cols` hold code 1 (weight 0).
#pragma once
#include <cstdint>
#include <vector>

#include "backend/npu/tiling_plan.h"
#include "kernels/ternary_layout.h"

namespace bitnet {

// Byte offset of the tile (column, tile, chunk, core) in the packed buffer.
int64_t NpuTileOffset(const NpuTilingPlan& plan, int64_t column, int64_t tile, int64_t chunk, int64_t core);

// Packs w for `plan` (plan.rows == w.rows, plan.cols == w.cols_padded).
std::vector<uint8_t> PackForNpu(const TernaryMatrixView& w, const NpuTilingPlan& plan);

// Inverse: [plan.rows_padded()][plan.k_padded] weights in {-1, 0, 1}. Throws
// Error on a code 3.
std::vector<int8_t> UnpackFromNpu(const std::vector<uint8_t>& packed, const NpuTilingPlan& plan);

// The DDR activation buffer of one dispatch (plan.x_bytes()): per K chunk
// one [kMaxTokens][kKChunk] object in the kernel's mmul A order
// (bitnet_npu::XByte). x is [tokens][cols] (cols <= k_padded); the rest is 0.
void PackActivationsForNpu(const int8_t* x, int tokens, int64_t cols, const NpuTilingPlan& plan, int8_t* out);
// Inverse: [kMaxTokens][k_padded].
std::vector<int8_t> UnpackActivationsFromNpu(const int8_t* packed, const NpuTilingPlan& plan);

}  // namespace bitnet
