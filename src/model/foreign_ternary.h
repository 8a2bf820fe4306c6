// Ternary projections as other engines store them in GGUF (bitnet.cpp's I2_S,
// llama.cpp's TQ2_0/TQ1_0, or plain float tensors holding q * d), turned into
// the fused, packed BitLinearWeights the forward pass reads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/weights.h"

namespace bitnet {

namespace gguf {
struct TensorInfo;
}

// One projection: values q in {-1, 0, 1} and the scale d of each kScaleBlock-wide
// block of each row, so that weight = q * d. A block with no non-zero value has
// d = 0 (its scale means nothing: ggml writes 0 there).
struct ForeignTernary {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<int8_t> values;       // [rows][cols]
  std::vector<float> block_scales;  // [rows][BlocksPerRow(cols)]
};

inline int64_t BlocksPerRow(int64_t cols) { return (cols + kScaleBlock - 1) / kScaleBlock; }

// Decodes tensor t, which must be [rows][cols] (GGUF dims {cols, rows}) of type
// I2_S, TQ2_0, TQ1_0, F32, F16 or BF16. Float tensors must be ternary-valued:
// within each block every non-zero |w| is the same. `where` names the file and
// tensor in every error.
ForeignTernary DecodeForeignTernary(const gguf::TensorInfo& t, int64_t rows, int64_t cols, const std::string& where);

// Multiplies every block scale by `factor` (llama.cpp's optional per-tensor
// "<name>.scale", which its graph multiplies into the projection's output).
void ApplyTensorScale(ForeignTernary& t, float factor);

// llama.cpp's LlamaModel.permute moves row (h, j, i) of a [heads][2][dim/2]
// view to (h, i, j): the interleaved RoPE layout. These undo / redo it on rows
// (values and scales move together).
void UnpermuteRopeRows(ForeignTernary& t, int n_heads, int head_dim);
void PermuteRopeRows(ForeignTernary& t, int n_heads, int head_dim);

// How a tensor's scales vary, simplest form first.
enum class ScaleShape { kUniform, kPerRow, kPerBlock };
ScaleShape ClassifyScales(const ForeignTernary& t, const std::string& where);

// Fuses parts (same cols) into one BitLinear: one RowRangeScale per part when
// each part's scale is uniform (exact int8 path), runs of equal rows when
// scales are per row, and block_scales for the whole matrix when any part has
// truly per-block scales (exact, slower path). Packs once, owned by m.
BitLinearWeights FuseForeignTernary(ModelWeights& m, const std::vector<const ForeignTernary*>& parts,
                                    const std::vector<std::string>& names);

// The inverse view for exporters: the per-block scales of rows [begin, end) of
// a BitLinear, [end - begin][BlocksPerRow(cols)], whatever form they are in.
std::vector<float> BlockScalesOf(const BitLinearWeights& bl, int64_t begin, int64_t end);

}  // namespace bitnet
