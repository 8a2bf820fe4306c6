// How one ternary matrix is cut up for the NPU array: the single source of
// truth shared by the host layout (PackForNpu), the emulator, the XRT runtime
// and, through the JSON written by bitnet-npu-plan, the IRON design script.
//
// The array: `columns` shim/mem-tile columns, each feeding `cores_per_column`
// compute tiles. Every core owns a contiguous block of rows_per_core output
// rows, processed as tiles_per_core tiles of kTileRows rows; for each tile the
// K dimension arrives in k_chunks chunks of kKChunk weights. The design
// constants (tile rows, K chunk) are the same for every shape so one core
// program serves all shapes; only loop counts and DMA patterns vary.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace bitnet {

enum class NpuGeneration { kNpu1, kNpu2 };

const char* NpuGenerationName(NpuGeneration g);        // "npu1" / "npu2"
NpuGeneration ParseNpuGeneration(const std::string& s);  // throws Error

// A shim DMA access pattern, in bytes of the buffer it walks. sizes/strides
// are outermost first, as IRON's TensorAccessPattern takes them.
struct NpuTap {
  int64_t offset = 0;
  std::array<int64_t, 4> sizes{};
  std::array<int64_t, 4> strides{};
};

struct NpuTilingPlan {
  // Design constants (also hard-coded in npu/kernels/w2a8_tile.h).
  static constexpr int64_t kTileRows = 32;   // rows per kernel call = lanes of one acc32 vector
  static constexpr int64_t kKChunk = 256;    // weights per row per kernel call
  static constexpr int64_t kL1Budget = 60 * 1024;  // of 64 KiB, the rest is stack

  NpuGeneration generation = NpuGeneration::kNpu2;
  int64_t rows = 0;          // logical output rows
  int64_t cols = 0;          // K as the model sees it (cols_padded of the CPU view)
  int64_t k_padded = 0;      // K rounded up to kKChunk (zeros past cols)
  int64_t tokens = 1;        // tokens per dispatch (1 = decode design)

  int64_t columns = 0;           // array columns used
  int64_t cores_per_column = 0;  // compute tiles used per column (1..4)
  int64_t rows_per_core = 0;     // multiple of kTileRows
  int64_t tiles_per_core = 0;    // rows_per_core / kTileRows
  int64_t k_chunks = 0;          // k_padded / kKChunk

  int64_t cores() const { return columns * cores_per_column; }
  int64_t rows_padded() const { return cores() * rows_per_core; }
  int64_t rows_per_column() const { return cores_per_column * rows_per_core; }
  // Bytes of one weight tile (kTileRows x kKChunk at 2 bits).
  static constexpr int64_t tile_bytes() { return kTileRows * kKChunk / 4; }
  // Kernel calls per core per dispatch.
  int64_t steps_per_core() const { return tiles_per_core * k_chunks; }
  int64_t weight_bytes() const { return rows_padded() * k_padded / 4; }
  int64_t weight_bytes_per_column() const { return weight_bytes() / columns; }
  int64_t x_bytes() const { return tokens * k_padded; }           // int8 [tokens][k_padded]
  int64_t y_bytes() const { return tokens * rows_padded() * 4; }  // int32 [tokens][rows_padded]
  // Core-local memory: double-buffered weight and activation tiles, and the
  // double-buffered output tile that doubles as the accumulator.
  int64_t l1_bytes() const { return 2 * tile_bytes() + 2 * tokens * kKChunk + 2 * tokens * kTileRows * 4; }

  // Shim DMA patterns for column c, in the order the design issues them.
  NpuTap WeightTap(int64_t column) const;  // weights: one contiguous block per column
  NpuTap XTap() const;                     // activations: the same for every column
  NpuTap YTap(int64_t column) const;       // results

  std::string ShapeName() const;  // "3840x2560"
  std::string ToJson() const;     // the plan plus its taps, for the design script
};

inline constexpr int64_t kNpuMaxTokensPerDispatch = 4;

// Chooses columns and cores for rows x cols on `generation`, with `tokens`
// tokens per dispatch (1 or up to kNpuMaxTokensPerDispatch). Throws Error
// when the shape cannot be mapped within the DMA and L1 limits.
NpuTilingPlan MakeNpuTilingPlan(int64_t rows, int64_t cols, NpuGeneration generation, int64_t tokens = 1);

// Throws Error naming the tap and dimension when a pattern breaks a shim BD
// limit (docs/NPU.md, "Shim DMA limits").
void ValidateNpuTap(const NpuTap& tap, const std::string& what);

}  // namespace bitnet
