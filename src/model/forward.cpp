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
  for (LayerWeights& layer : weights.layers)
    for (BitLinearWeights* bl : {&layer.qkv, &layer.o, &layer.gate_up, &layer.down}) bl->handle = backend_.Upload(bl->w);
}

void Transformer::Forward(std::span<const SequenceStep> batch, Activations::Impl& a) const {
  const ModelConfig& c = w_.config;
  a.rows.clear();
  for (size_t i = 0; i < batch.size(); ++i) {
    const SequenceStep& seq = batch[i];
    Check(seq.cache != nullptr, "forward", "sequence " + std::to_string(i) + " has no cache");
    Check(seq.start_pos >= 0 && seq.n >= 1 && seq.start_pos + seq.n <= seq.cache->capacity, "context",
          "positions " + std::to_string(seq.start_pos) + ".." + std::to_string(seq.start_pos + seq.n - 1) +
              " do not fit the context of " + std::to_string(seq.cache->capacity) + " tokens");
    for (size_t j = 0; j < i; ++j)
      Check(batch[j].cache != seq.cache, "forward", "sequences " + std::to_string(j) + " and " + std::to_string(i) +
                                                        " of a batch share one cache");
    const int first_logit = seq.n - std::clamp(seq.n_logits, 0, seq.n);
    for (int t = 0; t < seq.n; ++t) {
      const int32_t token = seq.tokens[t];
      Check(token >= 0 && token < c.vocab, "token ids",
            "id " + std::to_string(token) + " is outside the vocabulary [0, " + std::to_string(c.vocab) + ")");
      float* logits = t >= first_logit ? seq.logits + static_cast<size_t>(t - first_logit) * c.vocab : nullptr;
      a.rows.push_back({token, seq.start_pos + t, seq.cache, logits});
    }
  }
  // A sequence's rows are consecutive and in position order, so a chunk's
  // keys and values are in its caches before any later chunk attends to them.
  const std::span<const TokenRow> all(a.rows);
  for (size_t begin = 0; begin < all.size(); begin += kMaxChunk) {
    const std::span<const TokenRow> chunk = all.subspan(begin, std::min<size_t>(kMaxChunk, all.size() - begin));
    ForwardChunk(chunk, a);
    Logits(chunk, a.x.data(), a);
  }
}

void Transformer::ForwardChunk(std::span<const TokenRow> rows, Activations::Impl& a) const {
  const ModelConfig& c = w_.config;
  const int n = static_cast<int>(rows.size());
  a.x.resize(static_cast<size_t>(n) * c.hidden);  // [n][hidden]
  for (int t = 0; t < n; ++t) EmbedRow(rows[t].token, a, a.x.data() + static_cast<size_t>(t) * c.hidden);
  // The RoPE angles depend on the position only: once per chunk, not per layer.
  const int half = c.head_dim / 2;
  a.rope_cos.resize(static_cast<size_t>(n) * half);  // [n][head_dim / 2]
  a.rope_sin.resize(static_cast<size_t>(n) * half);  // [n][head_dim / 2]
  for (int t = 0; t < n; ++t) rope_.Angles(rows[t].pos, a.rope_cos.data() + t * half, a.rope_sin.data() + t * half);
  for (int l = 0; l < c.n_layers; ++l) {
    AttentionBlock(l, rows, a);
    FfnBlock(l, n, a);
  }
}

// out[hidden] = the embedding of token.
void Transformer::EmbedRow(int32_t token, Activations::Impl& a, float* out) const {
  if (w_.embed_file == nullptr) {
    DenseRow(w_.embed, token, out);
    return;
  }
  DenseMatrixView row = w_.embed;  // one row, copied out of the file
  const size_t row_bytes = static_cast<size_t>(row.cols * row.bytes_per_element());
  a.embed_row.resize(row_bytes);  // [row bytes]
  w_.embed_file->ReadAt(static_cast<const uint8_t*>(row.data) + static_cast<size_t>(token) * row_bytes, row_bytes,
                        a.embed_row.data());
  row.data = a.embed_row.data();
  row.rows = 1;
  DenseRow(row, 0, out);
}

// x += o_proj(attn_sub_norm(Attention(q, k, v))), with q, k, v = qkv_proj(input_layernorm(x)).
void Transformer::AttentionBlock(int layer, std::span<const TokenRow> rows, Activations::Impl& a) const {
  const ModelConfig& c = w_.config;
  const LayerWeights& L = w_.layers[layer];
  const int n = static_cast<int>(rows.size());
  const int64_t q_dim = static_cast<int64_t>(c.n_heads) * c.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
  const int64_t qkv_dim = q_dim + 2 * kv_dim;

  a.qkv.resize(static_cast<size_t>(n) * qkv_dim);  // [n][q | k | v]
  NormBitLinear(a.x.data(), c.hidden, L.attn_norm, L.qkv, n, a, a.xq_hidden, a.qkv.data());

  const int half = c.head_dim / 2;
  ForEachToken(n, [&](int t) {
    float* q = a.qkv.data() + t * qkv_dim;  // [H][D]
    float* k = q + q_dim;                   // [Hkv][D]
    float* v = k + kv_dim;                  // [Hkv][D]
    const float* cos = a.rope_cos.data() + t * half;
    const float* sin = a.rope_sin.data() + t * half;
    ApplyRope(q, c.n_heads, c.head_dim, cos, sin);
    ApplyRope(k, c.n_kv_heads, c.head_dim, cos, sin);
    rows[t].cache->Store(layer, rows[t].pos, k, v);
  });

  a.attn.resize(static_cast<size_t>(n) * q_dim);  // [n][H][D]
  Attend(layer, rows, a);

  a.proj.resize(static_cast<size_t>(n) * c.hidden);  // [n][hidden]
  NormBitLinear(a.attn.data(), q_dim, L.attn_sub_norm, L.o, n, a, a.xq_attn, a.proj.data());
  AddResidual(n, a);
}

// Causal GQA: query head h reads KV head h / (H / Hkv); each token sees the
// positions <= its own of its own sequence's cache.
// A job is (token, KV head, slice of its query heads): the heads of a slice
// share every key and value load. Decode has one token and only Hkv KV heads
// (5 jobs on 2 threads would leave one thread a job behind), so the query
// heads of a group are split until there are at least 4 jobs per thread;
// consecutive slices of a head mostly land on the same thread, so few keys
// are read twice. Each head's sums are independent of how heads are sliced.
void Transformer::Attend(int layer, std::span<const TokenRow> rows, Activations::Impl& a) const {
  const ModelConfig& c = w_.config;
  const int n = static_cast<int>(rows.size());
  const int64_t q_dim = static_cast<int64_t>(c.n_heads) * c.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
  const int64_t qkv_dim = q_dim + 2 * kv_dim;
  const int group = c.n_heads / c.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  int context = 0;  // the longest any token of the chunk sees
  for (const TokenRow& row : rows) context = std::max(context, row.pos + 1);
  int slices = 1;
  while (slices < group && static_cast<int64_t>(n) * c.n_kv_heads * slices < 4 * pool_.size() &&
         group % (slices * 2) == 0)
    slices *= 2;
  const int heads_per_slice = group / slices;
  const int64_t jobs = static_cast<int64_t>(n) * c.n_kv_heads * slices;
  a.scores.resize(static_cast<size_t>(pool_.size()) * heads_per_slice * context);  // [threads][heads][context]
  pool_.ParallelFor(jobs, 1, [&](int worker, int64_t begin, int64_t end) {
    float* scores = a.scores.data() + static_cast<size_t>(worker) * heads_per_slice * context;
    for (int64_t job = begin; job < end; ++job) {
      const int t = static_cast<int>(job / (c.n_kv_heads * slices));
      const int kv_head = static_cast<int>(job / slices % c.n_kv_heads);
      const int h0 = kv_head * group + static_cast<int>(job % slices) * heads_per_slice;
      const KvCache::Impl& cache = *rows[t].cache;
      const int64_t head_bytes = static_cast<int64_t>(c.head_dim) * cache.element_bytes();
      const uint8_t* keys = static_cast<const uint8_t*>(cache.keys(layer)) + kv_head * head_bytes;
      const uint8_t* values = static_cast<const uint8_t*>(cache.values(layer)) + kv_head * head_bytes;
      const float* q = a.qkv.data() + t * qkv_dim + static_cast<int64_t>(h0) * c.head_dim;
      const int seen = rows[t].pos + 1;
      AttentionScores(q, heads_per_slice, keys, cache.type, kv_dim, seen, c.head_dim, scale, scores, context);
      for (int g = 0; g < heads_per_slice; ++g) Softmax(scores + static_cast<int64_t>(g) * context, seen);
      AttentionValues(scores, heads_per_slice, context, values, cache.type, kv_dim, seen, c.head_dim,
                      a.attn.data() + t * q_dim + static_cast<int64_t>(h0) * c.head_dim);
    }
  });
}

// x += down_proj(ffn_sub_norm(act(gate_proj(m)) * up_proj(m))), m = post_attention_layernorm(x).
void Transformer::FfnBlock(int layer, int n, Activations::Impl& a) const {
  const ModelConfig& c = w_.config;
  const LayerWeights& L = w_.layers[layer];
  const int64_t F = c.ffn;

  a.gate_up.resize(static_cast<size_t>(n) * 2 * F);  // [n][gate | up]
  NormBitLinear(a.x.data(), c.hidden, L.ffn_norm, L.gate_up, n, a, a.xq_hidden, a.gate_up.data());

  a.ffn.resize(static_cast<size_t>(n) * F);  // [n][F]
  ForEachToken(n, [&](int t) {
    const float* gate = a.gate_up.data() + t * 2 * F;
    const float* up = gate + F;
    if (c.relu2)
      Relu2Gate(gate, up, F, a.ffn.data() + t * F);
    else
      SiluGate(gate, up, F, a.ffn.data() + t * F);
  });

  a.proj.resize(static_cast<size_t>(n) * c.hidden);  // [n][hidden]
  NormBitLinear(a.ffn.data(), F, L.ffn_sub_norm, L.down, n, a, a.xq_ffn, a.proj.data());
  AddResidual(n, a);
}

// out[n][rows] = w · quantize(rmsnorm(x[n][width]) * weight). A decoded
// token goes to the backend in one piece when it fuses the norm, the
// quantizer and the product (the NPU's one-dispatch path); otherwise the norm
// and quantizer run here and the product on the backend. Either way xq holds
// the int8 activations the product used.
void Transformer::NormBitLinear(const float* x, int64_t width, const std::vector<float>& weight,
                                const BitLinearWeights& w, int n, Activations::Impl& a, QuantizedBatch& xq,
                                float* out) const {
  if (n == 1 && w.block_scales.empty()) {
    xq.cols_padded = TernaryPaddedCols(width);
    xq.q.resize(static_cast<size_t>(xq.cols_padded));  // [1][cols_padded]
    xq.sums.resize(1);                                  // [1]
    xq.scales.resize(1);                                // [1]
    a.acc.resize(static_cast<size_t>(w.w.rows));        // [1][rows] exact int32
    if (backend_.NormMatMul(w.handle, x, weight.data(), width, w_.config.norm_eps, xq.q.data(), xq.scales.data(),
                            xq.sums.data(), a.acc.data()))
      return Dequantize(w, xq, 1, a, out);
  }
  NormQuantize(x, width, weight, n, xq);
  BitLinear(w, xq, n, a, out);
}

void Transformer::NormQuantize(const float* x, int64_t width, const std::vector<float>& weight, int n,
                               QuantizedBatch& out) const {
  out.cols_padded = TernaryPaddedCols(width);
  out.q.resize(static_cast<size_t>(n) * out.cols_padded);  // [n][cols_padded]
  out.sums.resize(n);                                      // [n]
  out.scales.resize(n);                                    // [n]
  ForEachToken(n, [&](int t) {
    out.scales[t] = RmsNormQuantizeInt8(x + t * width, weight.data(), width, w_.config.norm_eps, out.cols_padded,
                                        out.q.data() + t * out.cols_padded, &out.sums[t]);
  });
}

void Transformer::ForEachToken(int n, const std::function<void(int)>& fn) const {
  if (n == 1) return fn(0);  // decode: not worth waking the pool for one row
  pool_.ParallelFor(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) fn(static_cast<int>(t));
  });
}

void Transformer::AddResidual(int n, Activations::Impl& a) const {
  const int64_t hidden = w_.config.hidden;
  ForEachToken(n, [&](int t) {
    float* x = a.x.data() + t * hidden;
    const float* p = a.proj.data() + t * hidden;
    for (int64_t i = 0; i < hidden; ++i) x[i] += p[i];
  });
}

void Transformer::BitLinear(const BitLinearWeights& w, const QuantizedBatch& in, int n, Activations::Impl& a,
                            float* out) const {
  if (!w.block_scales.empty()) return BitLinearBlockScaled(w, in, n, out);
  const int64_t rows = w.w.rows;
  a.acc.resize(static_cast<size_t>(n) * rows);  // [n][rows] exact int32
  backend_.MatMul(w.handle, in.q.data(), in.sums.data(), n, a.acc.data());
  Dequantize(w, in, n, a, out);
}

// out[n][rows] = a.acc * (row range scale / the token's activation scale).
// Per token on the pool: run on the calling thread alone, this float tail of
// every product was a serial stretch of a batched step.
void Transformer::Dequantize(const BitLinearWeights& w, const QuantizedBatch& in, int n, const Activations::Impl& a,
                             float* out) const {
  const int64_t rows = w.w.rows;
  ForEachToken(n, [&](int t) {
    for (const RowRangeScale& range : w.ranges) {
      const float k = range.scale / in.scales[t];
      for (int64_t r = range.begin; r < range.end; ++r)
        out[t * rows + r] = static_cast<float>(a.acc[t * rows + r]) * k;
    }
  });
}

void Transformer::BitLinearBlockScaled(const BitLinearWeights& w, const QuantizedBatch& in, int n,
                                       float* out) const {
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

// logits of each row that wants them = output . final_norm(x[row]). With the
// int8 output matrix the normed vector is quantized per token like a
// BitLinear input, so the pass is an integer dot at the speed memory delivers
// the rows. All wanted rows go through each slice of the matrix together, so
// a batch reads the matrix once; the slices are the same for any batch.
void Transformer::Logits(std::span<const TokenRow> rows, const float* x, Activations::Impl& a) const {
  // 512 rows: 1.3 (int8) to 2.6 (bf16) MB per slice, stays in cache for every wanted row.
  constexpr int64_t kOutputRowsPerChunk = 512;
  const ModelConfig& c = w_.config;
  const DenseMatrixView& out_matrix = w_.output;
  const bool int8_output = out_matrix.type == DenseType::kI8Row;
  std::vector<int> wanted;  // indices into rows
  for (size_t t = 0; t < rows.size(); ++t)
    if (rows[t].logits != nullptr) wanted.push_back(static_cast<int>(t));
  if (wanted.empty()) return;
  const int m = static_cast<int>(wanted.size());
  a.normed.resize(static_cast<size_t>(m) * c.hidden);  // [m][hidden]
  a.normed_q.resize(static_cast<size_t>(m) * c.hidden);  // [m][hidden]
  a.normed_inv_a.resize(m);                              // [m]
  for (int i = 0; i < m; ++i) {
    float* normed = a.normed.data() + static_cast<size_t>(i) * c.hidden;
    RmsNorm(x + static_cast<size_t>(wanted[i]) * c.hidden, w_.final_norm.data(), c.hidden, c.norm_eps, normed);
    if (int8_output) {
      int32_t sum = 0;
      a.normed_inv_a[i] = 1.0f / QuantizeActivationsInt8(normed, c.hidden, c.hidden,
                                                          a.normed_q.data() + static_cast<size_t>(i) * c.hidden, &sum);
    }
  }
  a.logit_rows.resize(m);  // [m] where each wanted row's logits go
  for (int i = 0; i < m; ++i) a.logit_rows[i] = rows[wanted[i]].logits;
  pool_.ParallelForChunks(c.vocab, kOutputRowsPerChunk, [&](int64_t begin, int64_t end) {
    if (int8_output) {
      MatMulInt8Rows(out_matrix, begin, end, a.normed_q.data(), a.normed_inv_a.data(), m, a.logit_rows.data());
      return;
    }
    for (int i = 0; i < m; ++i)
      MatVecDense(out_matrix, begin, end, a.normed.data() + static_cast<size_t>(i) * c.hidden,
                  a.logit_rows[i] + begin);
  });
}

}  // namespace bitnet
