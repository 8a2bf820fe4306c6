// The BitNet b1.58 forward pass (docs/MODEL.md) over the kernel layer,
// for a batch of sequences at once.
//
// The tokens of every sequence in the batch are stacked into one
// [T_total, hidden] matrix, so each BitLinear runs once per layer for all of
// them; attention runs per token over its own sequence's cache. Every step
// is per token (the int32 BitLinear products are exact, norms and scales are
// per token), so a sequence's logits do not depend on what it is batched with.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "kernels/ops.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace bitnet {

class ThreadPool;

// One sequence's share of a batched forward pass: tokens[0..n) at positions
// start_pos.., keys/values into cache, logits [n_logits][vocab] for the last
// n_logits tokens into logits.
struct SequenceStep {
  const int32_t* tokens = nullptr;
  int n = 0;
  int start_pos = 0;
  KvCache::Impl* cache = nullptr;
  int n_logits = 0;
  float* logits = nullptr;
};

// Per-token int8 activations of a batch: the input of a BitLinear.
struct QuantizedBatch {
  int64_t cols_padded = 0;
  std::vector<int8_t> q;      // [n][cols_padded]
  std::vector<int32_t> sums;  // [n]
  std::vector<float> scales;  // [n]: a = 127 / max|x|
};

// Where one row of the stacked token matrix comes from and goes to.
struct TokenRow {
  int32_t token = 0;
  int pos = 0;                     // its position in its sequence
  KvCache::Impl* cache = nullptr;  // its sequence's cache
  float* logits = nullptr;         // [vocab], or null: no logits wanted
};

// The scratch of one forward pass (the public Activations): whoever calls
// Forward owns it, so calls with different Activations may run at once.
// Buffers grow to the largest chunk seen and are reused.
struct Activations::Impl {
  std::vector<TokenRow> rows;          // [T_total] every token of the batch, sequence by sequence
  std::vector<float> rope_cos, rope_sin;  // [n][head_dim / 2] the chunk's angles
  std::vector<float> x;                // [n][hidden] residual stream
  std::vector<float> qkv;              // [n][(H + 2 Hkv) D]
  std::vector<float> attn;             // [n][H D]
  std::vector<float> gate_up;          // [n][2 F]
  std::vector<float> ffn;              // [n][F]
  std::vector<float> proj;             // [n][hidden] output of o / down
  std::vector<float> scores;           // [threads][query heads per job][context]
  std::vector<int32_t> acc;            // [n][rows] exact int32 BitLinear results
  std::vector<uint8_t> embed_row;      // [row bytes] one embedding row read from the file
  std::vector<float> normed;           // [n][hidden] final-normed rows that want logits
  std::vector<int8_t> normed_q;        // [n][hidden] the same, int8 (int8 output matrix)
  std::vector<float> normed_inv_a;     // [n] 1 / their quantization scales
  std::vector<float*> logit_rows;      // [n] where each of them writes its logits
  QuantizedBatch xq_hidden, xq_attn, xq_ffn;
};

class Transformer {
 public:
  // Uploads every BitLinear to the backend once; the weights are read-only after.
  Transformer(ModelWeights& weights, Backend& backend, ThreadPool& pool);

  // Runs every sequence of the batch one step: all their tokens through each
  // layer together. Sequences must use distinct caches.
  void Forward(std::span<const SequenceStep> batch, Activations::Impl& a) const;

 private:
  // Rows [0, n) of a: the tokens of one chunk of the stacked batch.
  void ForwardChunk(std::span<const TokenRow> rows, Activations::Impl& a) const;
  void EmbedRow(int32_t token, Activations::Impl& a, float* out) const;
  void AttentionBlock(int layer, std::span<const TokenRow> rows, Activations::Impl& a) const;
  void FfnBlock(int layer, int n, Activations::Impl& a) const;
  void Attend(int layer, std::span<const TokenRow> rows, Activations::Impl& a) const;
  void Logits(std::span<const TokenRow> rows, const float* x, Activations::Impl& a) const;
  // out [n][rows] = (W . xq) * s / a, the scale s chosen by row range.
  void BitLinear(const BitLinearWeights& w, const QuantizedBatch& in, int n, Activations::Impl& a, float* out) const;
  void NormBitLinear(const float* x, int64_t width, const std::vector<float>& weight, const BitLinearWeights& w, int n,
                     Activations::Impl& a, QuantizedBatch& xq, float* out) const;
  void Dequantize(const BitLinearWeights& w, const QuantizedBatch& in, int n, const Activations::Impl& a,
                  float* out) const;
  // The exact, slower form for per-block scales: int32 dot per 256-weight block.
  void BitLinearBlockScaled(const BitLinearWeights& w, const QuantizedBatch& in, int n, float* out) const;
  // xq[t] = quantize(rmsnorm(x[t], weight)) for t < n.
  void NormQuantize(const float* x, int64_t width, const std::vector<float>& weight, int n,
                    QuantizedBatch& out) const;
  // fn(t) for t < n, tokens split over the pool (inline for one token).
  void ForEachToken(int n, const std::function<void(int)>& fn) const;
  // x += proj over n tokens.
  void AddResidual(int n, Activations::Impl& a) const;

  const ModelWeights& w_;
  Backend& backend_;
  ThreadPool& pool_;
  RopeTable rope_;

  // Tokens per pass through the layers; a longer batch runs in chunks.
  static constexpr int kMaxChunk = 128;
};

}  // namespace bitnet
