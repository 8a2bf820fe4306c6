#include "model/forward.h"

#include <algorithm>
#include <cmath>

#include "kernels/attention.h"
#include "kernels/dense.h"
#include "kernels/output_int8.h"
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
  for (int t = 0; t < n; ++t) EmbedRow(tokens[t], x_.data() + static_cast<size_t>(t) * c.hidden);
  // The RoPE angles depend on the position only: once per chunk, not per layer.
  const int half = c.head_dim / 2;
  rope_cos_.resize(static_cast<size_t>(n) * half);
  rope_sin_.resize(static_cast<size_t>(n) * half);
  for (int t = 0; t < n; ++t) rope_.Angles(start_pos + t, rope_cos_.data() + t * half, rope_sin_.data() + t * half);
  for (int l = 0; l < c.n_layers; ++l) {
    AttentionBlock(l, n, start_pos, cache);
    FfnBlock(l, n);
  }
}

// out[hidden] = the embedding of token.
void Transformer::EmbedRow(int32_t token, float* out) {
  if (w_.embed_file == nullptr) {
    DenseRow(w_.embed, token, out);
    return;
  }
  DenseMatrixView row = w_.embed;  // one row, copied out of the file
  const size_t row_bytes = static_cast<size_t>(row.cols * row.bytes_per_element());
  embed_row_.resize(row_bytes);
  w_.embed_file->ReadAt(static_cast<const uint8_t*>(row.data) + static_cast<size_t>(token) * row_bytes, row_bytes,
                        embed_row_.data());
  row.data = embed_row_.data();
  row.rows = 1;
  DenseRow(row, 0, out);
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

  const int half = c.head_dim / 2;
  ForEachToken(n, [&](int t) {
    float* q = qkv_.data() + t * qkv_dim;  // [H][D]
    float* k = q + q_dim;                  // [Hkv][D]
    float* v = k + kv_dim;                 // [Hkv][D]
    const float* cos = rope_cos_.data() + t * half;
    const float* sin = rope_sin_.data() + t * half;
    ApplyRope(q, c.n_heads, c.head_dim, cos, sin);
    ApplyRope(k, c.n_kv_heads, c.head_dim, cos, sin);
    cache.Store(layer, start_pos + t, k, v);
  });

  attn_.resize(static_cast<size_t>(n) * q_dim);  // [n][H][D]
  Attend(layer, n, start_pos, cache);

  NormQuantize(attn_.data(), q_dim, L.attn_sub_norm, n, xq_attn_);
  proj_.resize(static_cast<size_t>(n) * c.hidden);  // [n][hidden]
  BitLinear(L.o, xq_attn_, n, proj_.data());
  AddResidual(n);
}

// Causal GQA: query head h reads KV head h / (H / Hkv); token t sees positions <= start_pos + t.
// A job is (token, KV head, slice of its query heads): the heads of a slice
// share every key and value load. Decode has one token and only Hkv KV heads
// (5 jobs on 2 threads would leave one thread a job behind), so the query
// heads of a group are split until there are at least 4 jobs per thread;
// consecutive slices of a head mostly land on the same thread, so few keys
// are read twice.
void Transformer::Attend(int layer, int n, int start_pos, KvCache::Impl& cache) {
  const ModelConfig& c = w_.config;
  const int64_t q_dim = static_cast<int64_t>(c.n_heads) * c.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
  const int64_t qkv_dim = q_dim + 2 * kv_dim;
  const int group = c.n_heads / c.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  const int context = start_pos + n;
  int slices = 1;
  while (slices < group && static_cast<int64_t>(n) * c.n_kv_heads * slices < 4 * pool_.size() &&
         group % (slices * 2) == 0)
    slices *= 2;
  const int heads_per_slice = group / slices;
  const int64_t jobs = static_cast<int64_t>(n) * c.n_kv_heads * slices;
  scores_.resize(static_cast<size_t>(pool_.size()) * heads_per_slice * context);  // [threads][heads][context]
  const uint8_t* keys = static_cast<const uint8_t*>(cache.keys(layer));
  const uint8_t* values = static_cast<const uint8_t*>(cache.values(layer));
  const int64_t head_bytes = static_cast<int64_t>(c.head_dim) * cache.element_bytes();
  pool_.ParallelFor(jobs, 1, [&](int64_t begin, int64_t end) {
    const int thread = ThreadOfRange(begin, jobs);
    float* scores = scores_.data() + static_cast<size_t>(thread) * heads_per_slice * context;
    for (int64_t job = begin; job < end; ++job) {
      const int t = static_cast<int>(job / (c.n_kv_heads * slices));
      const int kv_head = static_cast<int>(job / slices % c.n_kv_heads);
      const int h0 = kv_head * group + static_cast<int>(job % slices) * heads_per_slice;
      const float* q = qkv_.data() + t * qkv_dim + static_cast<int64_t>(h0) * c.head_dim;
      const int seen = start_pos + t + 1;
      AttentionScores(q, heads_per_slice, keys + kv_head * head_bytes, cache.type, kv_dim, seen, c.head_dim, scale,
                      scores, context);
      for (int g = 0; g < heads_per_slice; ++g) Softmax(scores + static_cast<int64_t>(g) * context, seen);
      AttentionValues(scores, heads_per_slice, context, values + kv_head * head_bytes, cache.type, kv_dim, seen,
                      c.head_dim, attn_.data() + t * q_dim + static_cast<int64_t>(h0) * c.head_dim);
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
  ForEachToken(n, [&](int t) {
    const float* gate = gate_up_.data() + t * 2 * F;
    const float* up = gate + F;
    if (c.relu2)
      Relu2Gate(gate, up, F, ffn_.data() + t * F);
    else
      SiluGate(gate, up, F, ffn_.data() + t * F);
  });

  NormQuantize(ffn_.data(), F, L.ffn_sub_norm, n, xq_ffn_);
  proj_.resize(static_cast<size_t>(n) * c.hidden);  // [n][hidden]
  BitLinear(L.down, xq_ffn_, n, proj_.data());
  AddResidual(n);
}

void Transformer::NormQuantize(const float* x, int64_t width, const std::vector<float>& weight, int n,
                               QuantizedBatch& out) {
  out.cols_padded = TernaryPaddedCols(width);
  out.q.resize(static_cast<size_t>(n) * out.cols_padded);
  out.sums.resize(n);
  out.scales.resize(n);
  ForEachToken(n, [&](int t) {
    out.scales[t] = RmsNormQuantizeInt8(x + t * width, weight.data(), width, w_.config.norm_eps, out.cols_padded,
                                        out.q.data() + t * out.cols_padded, &out.sums[t]);
  });
}

void Transformer::ForEachToken(int n, const std::function<void(int)>& fn) {
  if (n == 1) return fn(0);  // decode: not worth waking the pool for one row
  pool_.ParallelFor(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) fn(static_cast<int>(t));
  });
}

void Transformer::AddResidual(int n) {
  const int64_t hidden = w_.config.hidden;
  ForEachToken(n, [&](int t) {
    float* x = x_.data() + t * hidden;
    const float* p = proj_.data() + t * hidden;
    for (int64_t i = 0; i < hidden; ++i) x[i] += p[i];
  });
}

// The index of the thread ParallelFor(total, 1, ...) hands the range starting
// at begin, so each thread gets its own scratch.
int Transformer::ThreadOfRange(int64_t begin, int64_t total) const {
  const int threads = static_cast<int>(std::min<int64_t>(pool_.size(), total));
  for (int t = threads - 1; t > 0; --t)
    if (begin >= total * t / threads) return t;
  return 0;
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

// logits[t] = output . final_norm(x[t]) for t < n. With the int8 output
// matrix the normed vector is quantized per token like a BitLinear input, so
// the pass is an integer dot at the speed memory delivers the rows.
void Transformer::Logits(const float* x, int n, float* logits) {
  // 2048 rows: 5 (int8) to 10 (bf16) MB per chunk, 63 chunks for the 2B vocabulary.
  constexpr int64_t kOutputRowsPerChunk = 2048;
  const ModelConfig& c = w_.config;
  const DenseMatrixView& out_matrix = w_.output;
  std::vector<float> normed(static_cast<size_t>(c.hidden));
  std::vector<int8_t> xq(static_cast<size_t>(c.hidden));
  for (int t = 0; t < n; ++t) {
    RmsNorm(x + static_cast<size_t>(t) * c.hidden, w_.final_norm.data(), c.hidden, c.norm_eps, normed.data());
    float* out = logits + static_cast<size_t>(t) * c.vocab;
    if (out_matrix.type == DenseType::kI8Row) {
      int32_t sum = 0;
      const float inv_a = 1.0f / QuantizeActivationsInt8(normed.data(), c.hidden, c.hidden, xq.data(), &sum);
      pool_.ParallelForChunks(c.vocab, kOutputRowsPerChunk, [&](int64_t begin, int64_t end) {
        MatVecInt8Rows(out_matrix, begin, end, xq.data(), inv_a, out + begin);
      });
    } else {
      pool_.ParallelForChunks(c.vocab, kOutputRowsPerChunk, [&](int64_t begin, int64_t end) {
        MatVecDense(out_matrix, begin, end, normed.data(), out + begin);
      });
    }
  }
}

}  // namespace bitnet
