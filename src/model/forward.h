// The BitNet b1.58 forward pass (docs/MODEL.md) over the kernel layer.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "backend/backend.h"
#include "model/kv_cache.h"
#include "model/weights.h"
#include "kernels/ops.h"

namespace bitnet {

class ThreadPool;

class Transformer {
 public:
  // Uploads every BitLinear to the backend once.
  Transformer(ModelWeights& weights, Backend& backend, ThreadPool& pool);

  // Runs tokens[0..n) at positions start_pos.. and writes logits [n_logits][vocab]
  // for the last n_logits of them.
  void Forward(const int32_t* tokens, int n, int start_pos, KvCache::Impl& cache, int n_logits, float* logits);

 private:
  // Per-token int8 activations of a batch: the input of a BitLinear.
  struct QuantizedBatch {
    int64_t cols_padded = 0;
    std::vector<int8_t> q;      // [n][cols_padded]
    std::vector<int32_t> sums;  // [n]
    std::vector<float> scales;  // [n]: a = 127 / max|x|
  };

  void EmbedRow(int32_t token, float* out);
  void ForwardChunk(const int32_t* tokens, int n, int start_pos, KvCache::Impl& cache);
  void AttentionBlock(int layer, int n, int start_pos, KvCache::Impl& cache);
  void FfnBlock(int layer, int n);
  // out [n][rows] = (W . xq) * s / a, the scale s chosen by row range.
  void BitLinear(const BitLinearWeights& w, const QuantizedBatch& in, int n, float* out);
  // The exact, slower form for per-block scales: int32 dot per 256-weight block.
  void BitLinearBlockScaled(const BitLinearWeights& w, const QuantizedBatch& in, int n, float* out);
  // xq[t] = quantize(rmsnorm(x[t], weight)) for t < n.
  void NormQuantize(const float* x, int64_t width, const std::vector<float>& weight, int n, QuantizedBatch& out);
  void Attend(int layer, int n, int start_pos, KvCache::Impl& cache);
  void Logits(const float* x, int n, float* logits);
  // fn(t) for t < n, tokens split over the pool (inline for one token).
  void ForEachToken(int n, const std::function<void(int)>& fn);
  // x_ += proj_ over n tokens.
  void AddResidual(int n);
  int ThreadOfRange(int64_t begin, int64_t total) const;

  ModelWeights& w_;
  Backend& backend_;
  ThreadPool& pool_;
  RopeTable rope_;
  std::vector<float> rope_cos_, rope_sin_;  // [n][head_dim / 2] for the chunk's positions

  // Scratch, sized for a chunk of up to kMaxChunk tokens.
  static constexpr int kMaxChunk = 128;
  std::vector<float> x_;         // [n][hidden] residual stream
  std::vector<float> qkv_;       // [n][(H + 2 Hkv) D]
  std::vector<float> attn_;      // [n][H D]
  std::vector<float> gate_up_;   // [n][2 F]
  std::vector<float> ffn_;       // [n][F]
  std::vector<float> proj_;      // [n][hidden] output of o / down
  std::vector<float> scores_;    // [threads][query heads per job][context]
  std::vector<int32_t> acc_;     // [n][max rows] int32 BitLinear results
  std::vector<uint8_t> embed_row_;  // one embedding row read from the file
  QuantizedBatch xq_hidden_, xq_attn_, xq_ffn_;
};

}  // namespace bitnet
