// How one ternary matrix is cut up for the NPU array: the single source of
// truth shared by the host layout (PackForNpu), the runtime sequence
// (runtime_sequence.h), the XRT runtime and, through the JSON written by
// bitnet-npu-plan, the IRON design script.
//
// One core program (one PDI) serves every shape: every column is always used,
// with four cores, except column 0 with two (its shim's second channel carries
// the activations, so each weight channel feeds exactly two cores and no
// channel carries more than another). The fifo objects have fixed sizes
// (one 32 x 256 weight tile, a [kMaxTokens][256] activation chunk, a
// [kMaxTokens][32] result tile), and the per-shape loop counts (row tiles per
// core, K chunks, tokens) reach the cores as runtime parameters written by the
// runtime sequence. Only the runtime sequence (the instruction stream) is
// per shape.
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

inline constexpr int64_t kNpuMaxTokensPerDispatch = 4;

struct NpuTilingPlan {
  // Design constants (also in npu/kernels/w2a8_tile.h and the design script).
  static constexpr int64_t kTileRows = 32;   // rows per kernel call = lanes of one acc32 vector
  static constexpr int64_t kKChunk = 256;    // weights per row per kernel call
  static constexpr int64_t kCoresPerColumn = 4;  // compute rows 2-5
  static constexpr int64_t kCoresPerChannel = 2;  // cores one shim weight channel feeds
  static constexpr int64_t kMaxTokens = kNpuMaxTokensPerDispatch;  // activation/result objects hold this many
  static constexpr int64_t kL1Budget = 60 * 1024;  // of 64 KiB, the rest is stack

  NpuGeneration generation = NpuGeneration::kNpu2;
  int64_t rows = 0;          // logical output rows
  int64_t cols = 0;          // K as the model sees it (cols_padded of the CPU view)
  int64_t k_padded = 0;      // K rounded up to kKChunk (zeros past cols)
  int64_t tokens = 1;        // tokens this dispatch computes (runtime parameter, <= kMaxTokens)

  int64_t columns = 0;           // array columns: all of the generation's
  int64_t rows_per_core = 0;     // multiple of kTileRows, the same for every core
  int64_t tiles_per_core = 0;    // rows_per_core / kTileRows (runtime parameter)
  int64_t k_chunks = 0;          // k_padded / kKChunk (runtime parameter)

  // Column 0 has two working cores, the others four; cores are numbered
  // column by column, and core g owns rows [g * rows_per_core, ...).
  static constexpr int64_t CoresInColumn(int64_t column) { return column == 0 ? 2 : kCoresPerColumn; }
  static constexpr int64_t FirstCoreOfColumn(int64_t column) { return column == 0 ? 0 : 2 + 4 * (column - 1); }
  int64_t cores() const { return FirstCoreOfColumn(columns); }
  int64_t rows_padded() const { return cores() * rows_per_core; }
  int64_t ColumnRows(int64_t column) const { return CoresInColumn(column) * rows_per_core; }
  int64_t ColumnFirstRow(int64_t column) const { return FirstCoreOfColumn(column) * rows_per_core; }
  // Bytes of one weight tile (kTileRows x kKChunk at 2 bits).
  static constexpr int64_t tile_bytes() { return kTileRows * kKChunk / 4; }
  static constexpr int64_t x_object_bytes() { return kMaxTokens * kKChunk; }      // int8 [kMaxTokens][kKChunk]
  static constexpr int64_t y_object_bytes() { return kMaxTokens * kTileRows * 4; }  // int32 [kMaxTokens][kTileRows]
  // Kernel calls per core per dispatch.
  int64_t steps_per_core() const { return tiles_per_core * k_chunks; }
  int64_t weight_bytes() const { return rows_padded() * k_padded / 4; }
  int64_t ColumnWeightOffset(int64_t column) const { return ColumnFirstRow(column) * k_padded / 4; }
  int64_t ColumnWeightBytes(int64_t column) const { return ColumnRows(column) * k_padded / 4; }
  // The DDR activation and result buffers always hold kMaxTokens tokens (the
  // objects have fixed sizes); tokens past `tokens` are zero in x and not
  // computed in y.
  int64_t x_bytes() const { return kMaxTokens * k_padded; }           // int8 [kMaxTokens][k_padded]
  int64_t y_bytes() const { return kMaxTokens * rows_padded() * 4; }  // int32 [kMaxTokens][rows_padded]
  // Core-local memory: double-buffered weight tile, activation chunk and result tile.
  static constexpr int64_t l1_bytes() { return 2 * tile_bytes() + 2 * x_object_bytes() + 2 * y_object_bytes(); }

  // Weight channels of a column's shim: column 0's second MM2S channel carries
  // the activations (broadcast to every core), so it has one; the others two.
  // Channel h feeds the column's cores 2h and 2h + 1.
  static constexpr int64_t WeightChannels(int64_t column) { return CoresInColumn(column) / kCoresPerChannel; }
  // Shim DMA patterns, in the order the runtime sequence issues them.
  NpuTap WeightTap(int64_t column, int64_t channel) const;
  NpuTap XTap() const;                     // activations: shim (0,0) to all cores
  NpuTap YTap(int64_t column) const;       // results

  std::string ShapeName() const;  // "3840x2560"
  std::string ToJson() const;     // the plan's scalars, for the design script
};

// Spreads rows x cols over every core of `generation`, with `tokens` tokens
// in this dispatch (1..kNpuMaxTokensPerDispatch). Throws Error naming the
// limit when the shape cannot be mapped within the DMA limits.
NpuTilingPlan MakeNpuTilingPlan(int64_t rows, int64_t cols, NpuGeneration generation, int64_t tokens = 1);

// Throws Error naming the tap and dimension when a pattern breaks a shim BD
// limit (docs/NPU.md, "Shim DMA limits").
void ValidateNpuTap(const NpuTap& tap, const std::string& what);

}  // namespace bitnet
