// The model's weights in the form the forward pass reads, whatever file they
// came from. Big arrays point into memory maps or into owned buffers.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bitnet/bitnet.h"
#include "kernels/dense.h"
#include "kernels/ternary_layout.h"
#include "util/mapped_file.h"

namespace bitnet {

// One weight scale s for output rows [begin, end) of a fused BitLinear:
// y = (Wt . xq) * s / a on those rows.
struct RowRangeScale {
  int64_t begin = 0;
  int64_t end = 0;
  float scale = 1.0f;
};

// Weights per scale block when a file gives each 256-weight block of a row its
// own scale (ggml's TQ1_0/TQ2_0 can; BitNet-converted files never do).
inline constexpr int64_t kScaleBlock = 256;

struct BitLinearWeights {
  TernaryMatrixView w;                // [out][in], packed
  std::vector<RowRangeScale> ranges;  // cover [0, out) in order
  // Empty, or [out][ceil(in / kScaleBlock)] scales d_b: then
  // y = sum_b d_b * (Wt_b . xq_b) / a and `ranges` only name the parts (scale 1).
  std::vector<float> block_scales;
  int handle = -1;                    // the backend's handle after Upload
};

struct LayerWeights {
  std::vector<float> attn_norm;      // [hidden]
  BitLinearWeights qkv;              // [q | k | v] = [(H + 2 Hkv) * D][hidden]
  std::vector<float> attn_sub_norm;  // [hidden]
  BitLinearWeights o;                // [hidden][H * D]
  std::vector<float> ffn_norm;       // [hidden]
  BitLinearWeights gate_up;          // [gate | up] = [2 F][hidden]
  std::vector<float> ffn_sub_norm;   // [F]
  BitLinearWeights down;             // [hidden][F]
};

struct ModelWeights {
  ModelConfig config;
  DenseMatrixView embed;   // [vocab][hidden]
  // When set, embedding rows are read from this file (ReadAt) rather than
  // through the map: a lookup then leaves no resident pages behind, which
  // matters once the output matrix is a separate int8 table.
  const MappedFile* embed_file = nullptr;
  DenseMatrixView output;  // [vocab][hidden]: embed itself when tied
  std::vector<float> final_norm;  // [hidden]
  std::vector<LayerWeights> layers;

  std::string source;          // file or directory loaded
  std::string container;       // "hf directory", "gguf (bitnet-npu)", "gguf (bitnet-25, I2_S)", ...
  std::string format;          // where the ternary weights came from: "hf-bf16", "hf-packed", ...
  std::string scale_convention;  // how weight scales were read, for `bitnet info`
  std::string activation_note;   // why relu^2 or SiLU was chosen
  SamplingParams sampling;       // generation defaults that travel with the model

  // Whatever the views above point into: memory maps and owned buffers.
  std::vector<std::shared_ptr<const void>> storage;

  // Keeps `buffer` alive with the weights and returns its data pointer.
  template <typename T>
  const T* Own(std::vector<T> buffer) {
    auto owned = std::make_shared<std::vector<T>>(std::move(buffer));
    storage.push_back(owned);
    return owned->data();
  }
};

// Builds a fused BitLinear from per-projection ternary values ([rows_i][cols]
// each, values in {-1,0,1}) and their scales; packs once.
BitLinearWeights FuseBitLinear(ModelWeights& m, const std::vector<const int8_t*>& parts,
                               const std::vector<int64_t>& part_rows, const std::vector<float>& scales, int64_t cols);

}  // namespace bitnet
