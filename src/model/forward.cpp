#include "model/forward.h"

#include <algorithm>
#include <cmath>

#include "kernels/dense.h"
#include "kernels/quantize.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace bitnet {

Transformer::Transformer(ModelWeights& weights, Backend& backend, ThreadPool& pool)
    : w_(weights), backend_(backend), pool_(pool), rope_(weights.config.head_dim, weights.config.rope_theta) {
  for (LayerWeights& layer : w_.layers)
    for (BitLinearWeights* bl : {&layer.qkv, &layer.o, &layer.gate_up, &layer.down}) bl->handle = backend_.Upload(bl->w);
}

void Transformer::Forward(const int32_t* tokens, int n, int start_pos, KvCache::Impl& cache, int n_logits,
                          float* logits) {
  const ModelConfig& c = w_.config;
  Check(start_pos >= 0 && n >= 1 && start_pos + n <= cache.capacity, "context",
        "positions " + std::to_string(start_pos) + ".." + std::to_string(start_pos + n - 1) +
            " do not fit the context of " + std::to_string(cache.capacity) + " tokens");
  for (int i = 0; i < n; ++i)
    Check(tokens[i] >= 0 && tokens[i] < c.vocab, "token ids",
          "id " + std::to_string(tokens[i]) + " is outside the vocabulary [0, " + std::to_string(c.vocab) + ")");
  n_logits = std::clamp(n_logits, 0, n);
  const int first_logit = n - n_logits;
  for (int begin = 0; begin < n; begin += kMaxChunk) {
    const int len = std::min(kMaxChunk, n - begin);
    ForwardChunk(tokens + begin, len, start_pos + begin, cache);
    // Logits only for the positions asked for: prefill usually needs one.
    const int from = std::max(begin, first_logit);
    if (from < begin + len)
      Logits(x_.data() + static_cast<size_t>(from - begin) * c.hidden, begin + len - from,
             logits + static_cast<size_t>(from - first_logit) * c.vocab);
  }
}

void Transformer::ForwardChunk(const int32_t* tokens, int n, int start_pos, KvCache::Impl& cache) {
  const ModelConfig& c = w_.config;
  x_.resize(static_cast<size_t>(n) * c.hidden);  // x: [n][hidden]
  for (int t = 0; t < n; ++t) DenseRow(w_.embed, tokens[t], x_.data() + static_cast<size_t>(t) * c.hidden);
  for (int l = 0; l < c.n_layers; ++l) {
    AttentionBlock(l, n, start_pos, cache);
    FfnBlock(l, n);
  }
}

// x += o_proj(attn_sub_norm(Attention(q, k, v))), with q, k, v = qkv_proj(input_layernorm(x)).
void Transformer::AttentionBlock(int layer, int n, int start_pos, KvCache::Impl& cache) {
  const ModelConfig& c = w_.config;
  const LayerWeights& L = w_.layers[layer];
  const int64_t q_dim = static_cast<int64_t>(c.n_heads) * c.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
  const int64_t qkv_dim = q_dim + 2 * kv_dim;

  NormQuantize(x_.data(), c.hidden, L.attn_norm, n, xq_hidden_);
  qkv_.resize(static_cast<size_t>(n) * qkv_dim);  // [n][q | k | v]
  BitLinear(L.qkv, xq_hidden_, n, qkv_.data());

  std::vector<float> cos(c.head_dim / 2), sin(c.head_dim / 2);
  for (int t = 0; t < n; ++t) {
    float* q = qkv_.data() + t * qkv_dim;  // [H][D]
    float* k = q + q_dim;                  // [Hkv][D]
    float* v = k + kv_dim;                 // [Hkv][D]
    rope_.Angles(start_pos + t, cos.data(), sin.data());
    ApplyRope(q, c.n_heads, c.head_dim, cos.data(), sin.data());
    ApplyRope(k, c.n_kv_heads, c.head_dim, cos.data(), sin.data());
    std::copy(k, k + kv_dim, cache.key(layer, start_pos + t));
    std::copy(v, v + kv_dim, cache.value(layer, start_pos + t));
  }

  attn_.resize(static_cast<size_t>(n) * q_dim);  // [n][H][D]
  Attend(layer, n, start_pos, cache);

  NormQuantize(attn_.data(), q_dim, L.attn_sub_norm, n, xq_attn_);
  proj_.resize(static_cast<size_t>(n) * c.hidden);  // [n][hidden]
  BitLinear(L.o, xq_attn_, n, proj_.data());
  for (size_t i = 0; i < proj_.size(); ++i) x_[i] += proj_[i];
}

// Causal GQA: query head h reads KV head h / (H / Hkv); token t sees positions <= start_pos + t.
void Transformer::Attend(int layer, int n, int start_pos, KvCache::Impl& cache) {
  const ModelConfig& c = w_.config;
  const int64_t q_dim = static_cast<int64_t>(c.n_heads) * c.head_dim;
  const int64_t qkv_dim = q_dim + 2 * static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
  const int group = c.n_heads / c.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  const int context = start_pos + n;
  scores_.resize(static_cast<size_t>(pool_.size()) * context);  // [threads][context]
  pool_.RunOnAll([&](int thread) {
    float* scores = scores_.data() + static_cast<size_t>(thread) * context;
    for (int64_t job = thread; job < static_cast<int64_t>(n) * c.n_heads; job += pool_.size()) {
      const int t = static_cast<int>(job / c.n_heads), h = static_cast<int>(job % c.n_heads);
      const int kv_head = h / group;
      const float* q = qkv_.data() + t * qkv_dim + static_cast<int64_t>(h) * c.head_dim;
      const int seen = start_pos + t + 1;
      for (int p = 0; p < seen; ++p)
        scores[p] = DotF32(q, cache.key(layer, p) + kv_head * c.head_dim, c.head_dim) * scale;
      Softmax(scores, seen);
      float* out = attn_.data() + t * q_dim + static_cast<int64_t>(h) * c.head_dim;
      std::fill(out, out + c.head_dim, 0.0f);
      for (int p = 0; p < seen; ++p) {
        const float* v = cache.value(layer, p) + kv_head * c.head_dim;
        for (int d = 0; d < c.head_dim; ++d) out[d] += scores[p] * v[d];
      }
    }
  });
}

// x += down_proj(ffn_sub_norm(act(gate_proj(m)) * up_proj(m))), m = post_attention_layernorm(x).
void Transformer::FfnBlock(int layer, int n) {
  const ModelConfig& c = w_.config;
  const LayerWeights& L = w_.layers[layer];
  const int64_t F = c.ffn;

  NormQuantize(x_.data(), c.hidden, L.ffn_norm, n, xq_hidden_);
  gate_up_.resize(static_cast<size_t>(n) * 2 * F);  // [n][gate | up]
  BitLinear(L.gate_up, xq_hidden_, n, gate_up_.data());

  ffn_.resize(static_cast<size_t>(n) * F);  // [n][F]
  for (int t = 0; t < n; ++t) {
    const float* gate = gate_up_.data() + t * 2 * F;
    const float* up = gate + F;
    if (c.relu2)
      Relu2Gate(gate, up, F, ffn_.data() + t * F);
    else
      SiluGate(gate, up, F, ffn_.data() + t * F);
  }

  NormQuantize(ffn_.data(), F, L.ffn_sub_norm, n, xq_ffn_);
  proj_.resize(static_cast<size_t>(n) * c.hidden);  // [n][hidden]
  BitLinear(L.down, xq_ffn_, n, proj_.data());
  for (size_t i = 0; i < proj_.size(); ++i) x_[i] += proj_[i];
}

void Transformer::NormQuantize(const float* x, int64_t width, const std::vector<float>& weight, int n,
                               QuantizedBatch& out) {
  out.cols_padded = TernaryPaddedCols(width);
  out.q.resize(static_cast<size_t>(n) * out.cols_padded);
  out.sums.resize(n);
  out.scales.resize(n);
  for (int t = 0; t < n; ++t)
    out.scales[t] = RmsNormQuantizeInt8(x + t * width, weight.data(), width, w_.config.norm_eps, out.cols_padded,
                                        out.q.data() + t * out.cols_padded, &out.sums[t]);
}

void Transformer::BitLinear(const BitLinearWeights& w, const QuantizedBatch& in, int n, float* out) {
  if (!w.block_scales.empty()) return BitLinearBlockScaled(w, in, n, out);
  const int64_t rows = w.w.rows;
  acc_.resize(static_cast<size_t>(n) * rows);  // [n][rows] exact int32
  backend_.MatMul(w.handle, in.q.data(), in.sums.data(), n, acc_.data());
  for (int t = 0; t < n; ++t) {
    for (const RowRangeScale& range : w.ranges) {
      const float k = range.scale / in.scales[t];
      for (int64_t r = range.begin; r < range.end; ++r)
        out[t * rows + r] = static_cast<float>(acc_[t * rows + r]) * k;
    }
  }
}

void Transformer::BitLinearBlockScaled(const BitLinearWeights& w, const QuantizedBatch& in, int n, float* out) {
  const int64_t rows = w.w.rows, cols = w.w.cols;
  const int64_t n_blocks = (cols + kScaleBlock - 1) / kScaleBlock;
  pool_.ParallelFor(rows, 8, [&](int64_t begin, int64_t end) {
    std::vector<int8_t> row(static_cast<size_t>(cols));
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t c = 0; c < cols; ++c) row[c] = TernaryAt(w.w, r, c);
      const float* d = w.block_scales.data() + r * n_blocks;
      for (int t = 0; t < n; ++t) {
        const int8_t* x = in.q.data() + t * in.cols_padded;
        float sum = 0.0f;
        for (int64_t b = 0; b < n_blocks; ++b) {
          int32_t dot = 0;  // exact: at most 256 * 128 in magnitude
          for (int64_t c = b * kScaleBlock; c < std::min(cols, (b + 1) * kScaleBlock); ++c) dot += row[c] * x[c];
          sum += d[b] * static_cast<float>(dot);
        }
        out[t * rows + r] = sum / in.scales[t];
      }
    }
  });
}

// logits[t] = output . final_norm(x[t]) for t < n.
void Transformer::Logits(const float* x, int n, float* logits) {
  const ModelConfig& c = w_.config;
  std::vector<float> normed(static_cast<size_t>(c.hidden));
  for (int t = 0; t < n; ++t) {
    RmsNorm(x + static_cast<size_t>(t) * c.hidden, w_.final_norm.data(), c.hidden, c.norm_eps, normed.data());
    float* out = logits + static_cast<size_t>(t) * c.vocab;
    pool_.ParallelFor(c.vocab, 64, [&](int64_t begin, int64_t end) {
      MatVecDense(w_.output, begin, end, normed.data(), out + begin);
    });
  }
}

}  // namespace bitnet
