#include "gguf_test_writers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "util/half.h"

namespace bitnet::testing {
namespace {

struct Rng {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
};

float RoundBf16(float f) { return Bf16ToF32(F32ToBf16(f)); }

std::vector<float> RandomNorm(Rng& rng, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = RoundBf16(static_cast<float>(0.9 + 0.2 * rng.Uniform()));
  return v;
}

TestProjection RandomProjection(Rng& rng, int64_t rows, int64_t cols) {
  TestProjection p;
  p.rows = rows;
  p.cols = cols;
  p.q.resize(static_cast<size_t>(rows * cols));
  for (int8_t& v : p.q) v = static_cast<int8_t>(static_cast<int>(rng.Next() % 3) - 1);
  const float s = RoundBf16(static_cast<float>(0.01 + 0.02 * rng.Uniform()));
  p.d.assign(static_cast<size_t>(rows * ((cols + 255) / 256)), s);
  return p;
}

template <typename T>
std::vector<uint8_t> Bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<uint8_t> Bf16Bytes(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = F32ToBf16(v[i]);
  return Bytes(h);
}

void PutHalf(uint8_t* p, float v) {
  const uint16_t h = F32ToF16(v);
  std::memcpy(p, &h, 2);
}

// ---- float64 reference ----

using Vec = std::vector<double>;

Vec RmsNorm(const Vec& x, const std::vector<float>& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double k = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  Vec out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * k * w[i];
  return out;
}

// y = (W . xq) / a with int8 activations, W = q * d per block.
Vec BitLinear(const TestProjection& p, const Vec& x) {
  double mx = 0;
  for (double v : x) mx = std::max(mx, std::fabs(v));
  const double a = 127.0 / std::max(mx, 1e-5);
  std::vector<double> xq(x.size());
  for (size_t i = 0; i < x.size(); ++i) xq[i] = std::clamp(std::nearbyint(x[i] * a), -128.0, 127.0);
  Vec y(static_cast<size_t>(p.rows));
  for (int64_t r = 0; r < p.rows; ++r) {
    double s = 0;
    for (int64_t c = 0; c < p.cols; ++c) s += p.q[r * p.cols + c] * static_cast<double>(p.Scale(r, c)) * xq[c];
    y[r] = s / a;
  }
  return y;
}

void Rope(double* v, int heads, int dim, int pos, double theta) {
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < dim / 2; ++i) {
      const double angle = pos * std::pow(theta, -2.0 * i / dim);
      double* a = v + h * dim + i;
      double* b = a + dim / 2;
      const double x0 = *a, x1 = *b;
      *a = x0 * std::cos(angle) - x1 * std::sin(angle);
      *b = x1 * std::cos(angle) + x0 * std::sin(angle);
    }
}

}  // namespace

ModelConfig WideConfig() {
  ModelConfig c;
  c.hidden = 256;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 64;
  c.ffn = 512;
  c.vocab = 512;
  c.max_context = 4096;
  c.bos_id = 510;  // loaders require bos/eos inside the vocabulary
  c.eos_id = 511;
  return c;
}

TestModel RandomTestModel(const ModelConfig& c, uint64_t seed) {
  Rng rng{seed};
  TestModel m;
  m.c = c;
  m.embed_bf16.resize(static_cast<size_t>(c.vocab) * c.hidden);
  for (uint16_t& e : m.embed_bf16) e = F32ToBf16(static_cast<float>((rng.Uniform() - 0.5) * 0.2));
  m.final_norm = RandomNorm(rng, c.hidden);
  const int64_t qr = static_cast<int64_t>(c.n_heads) * c.head_dim, kvr = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
  for (int l = 0; l < c.n_layers; ++l) {
    TestLayer L;
    L.attn_norm = RandomNorm(rng, c.hidden);
    L.attn_sub_norm = RandomNorm(rng, qr);
    L.ffn_norm = RandomNorm(rng, c.hidden);
    L.ffn_sub_norm = RandomNorm(rng, c.ffn);
    L.q = RandomProjection(rng, qr, c.hidden);
    L.k = RandomProjection(rng, kvr, c.hidden);
    L.v = RandomProjection(rng, kvr, c.hidden);
    L.o = RandomProjection(rng, c.hidden, qr);
    L.gate = RandomProjection(rng, c.ffn, c.hidden);
    L.up = RandomProjection(rng, c.ffn, c.hidden);
    L.down = RandomProjection(rng, c.hidden, c.ffn);
    m.layers.push_back(std::move(L));
  }
  return m;
}

void WriteHfPacked(const TestModel& m, const std::string& dir, const std::string& hidden_act) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const ModelConfig& c = m.c;
  nlohmann::ordered_json config = {
      {"architectures", {"BitNetForCausalLM"}}, {"hidden_act", hidden_act}, {"hidden_size", c.hidden},
      {"intermediate_size", c.ffn}, {"num_hidden_layers", c.n_layers}, {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads}, {"head_dim", c.head_dim}, {"max_position_embeddings", c.max_context},
      {"rms_norm_eps", c.norm_eps}, {"rope_theta", c.rope_theta}, {"tie_word_embeddings", true},
      {"vocab_size", c.vocab}, {"bos_token_id", c.bos_id}, {"eos_token_id", c.eos_id},
      {"quantization_config",
       {{"quant_method", "bitnet"}, {"linear_class", "autobitlinear"}, {"quantization_mode", "offline"}}}};
  std::ofstream(fs::path(dir) / "config.json") << config.dump(2);
  std::vector<SafetensorsEntry> e;
  auto add_vec = [&](const std::string& name, const std::vector<float>& v) {
    e.push_back({name, "BF16", {static_cast<int64_t>(v.size())}, Bf16Bytes(v)});
  };
  // Unpacked row i * (rows / 4) + r lives in bits 2i of packed row r.
  auto add_proj = [&](const std::string& name, const TestProjection& p) {
    const int64_t quarter = p.rows / 4;
    std::vector<uint8_t> packed(static_cast<size_t>(quarter * p.cols), 0);
    for (int64_t row = 0; row < p.rows; ++row)
      for (int64_t col = 0; col < p.cols; ++col)
        packed[(row % quarter) * p.cols + col] |=
            static_cast<uint8_t>((p.q[row * p.cols + col] + 1) << (2 * (row / quarter)));
    e.push_back({name + ".weight", "U8", {quarter, p.cols}, std::move(packed)});
    e.push_back({name + ".weight_scale", "BF16", {1}, Bf16Bytes({p.d[0]})});
  };
  e.push_back({"model.embed_tokens.weight", "BF16", {c.vocab, c.hidden}, Bytes(m.embed_bf16)});
  add_vec("model.norm.weight", m.final_norm);
  for (int l = 0; l < c.n_layers; ++l) {
    const TestLayer& L = m.layers[l];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add_vec(p + "input_layernorm.weight", L.attn_norm);
    add_vec(p + "post_attention_layernorm.weight", L.ffn_norm);
    add_vec(p + "self_attn.attn_sub_norm.weight", L.attn_sub_norm);
    add_vec(p + "mlp.ffn_sub_norm.weight", L.ffn_sub_norm);
    add_proj(p + "self_attn.q_proj", L.q);
    add_proj(p + "self_attn.k_proj", L.k);
    add_proj(p + "self_attn.v_proj", L.v);
    add_proj(p + "self_attn.o_proj", L.o);
    add_proj(p + "mlp.gate_proj", L.gate);
    add_proj(p + "mlp.up_proj", L.up);
    add_proj(p + "mlp.down_proj", L.down);
  }
  WriteSafetensors((fs::path(dir) / "model.safetensors").string(), e);
}

std::vector<uint8_t> PackI2S(const int8_t* q, int64_t n, float scale) {
  std::vector<uint8_t> out(static_cast<size_t>(n / 4 + 32), 0);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t block = j / 128, within = j % 128;
    out[block * 32 + within % 32] |= static_cast<uint8_t>((q[j] + 1) << (6 - 2 * (within / 32)));
  }
  std::memcpy(out.data() + n / 4, &scale, 4);
  return out;
}

std::vector<uint8_t> PackTQ2(const int8_t* q, int64_t n, const float* d) {
  std::vector<uint8_t> out(static_cast<size_t>(n / 256 * 66), 0);
  for (int64_t b = 0; b < n / 256; ++b) {
    uint8_t* blk = out.data() + 66 * b;
    for (int e = 0; e < 256; ++e)
      blk[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((q[256 * b + e] + 1) << (2 * ((e % 128) / 32)));
    PutHalf(blk + 64, d[b]);
  }
  return out;
}

// ggml's quantize_row_tq1_0_ref: elements 0..159 as 5 trits in bytes 0..31
// (element 32n + m in byte m, trit n), 160..239 in bytes 32..47 (16n + m),
// 240..255 in qh bytes 48..51 (4n + m, 4 trits); a byte holds
// ceil(t * 256 / 243) of the base-3 number t, first trit most significant.
std::vector<uint8_t> PackTQ1(const int8_t* q, int64_t n, const float* d) {
  std::vector<uint8_t> out(static_cast<size_t>(n / 256 * 54), 0);
  for (int64_t b = 0; b < n / 256; ++b) {
    const int8_t* x = q + 256 * b;
    uint8_t* blk = out.data() + 54 * b;
    auto pack = [&](int byte, auto element_of, int trits) {
      int t = 0;
      for (int k = 0; k < 5; ++k) t = t * 3 + (k < trits ? x[element_of(k)] + 1 : 0);
      blk[byte] = static_cast<uint8_t>((t * 256 + 242) / 243);
    };
    for (int m = 0; m < 32; ++m) pack(m, [m](int k) { return 32 * k + m; }, 5);
    for (int m = 0; m < 16; ++m) pack(32 + m, [m](int k) { return 160 + 16 * k + m; }, 5);
    for (int m = 0; m < 4; ++m) pack(48 + m, [m](int k) { return 240 + 4 * k + m; }, 4);
    PutHalf(blk + 52, d[b]);
  }
  return out;
}

void WriteForeignGguf(const TestModel& m, const GgufSpec& spec, const std::string& path) {
  const ModelConfig& c = m.c;
  gguf::Writer w;
  const std::string a = spec.arch;
  w.SetString("general.architecture", a);
  w.SetString("general.name", spec.name);
  if (!spec.tokenizer_pre.empty()) {
    w.SetString("tokenizer.ggml.model", "gpt2");
    w.SetString("tokenizer.ggml.pre", spec.tokenizer_pre);
  }
  if (spec.write_vocab_size) w.SetUint32(a + ".vocab_size", static_cast<uint32_t>(c.vocab));
  w.SetUint32(a + ".context_length", static_cast<uint32_t>(c.max_context));
  w.SetUint32(a + ".embedding_length", static_cast<uint32_t>(c.hidden));
  w.SetUint32(a + ".block_count", static_cast<uint32_t>(c.n_layers));
  w.SetUint32(a + ".feed_forward_length", static_cast<uint32_t>(c.ffn));
  w.SetUint32(a + ".rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  w.SetUint32(a + ".attention.head_count", static_cast<uint32_t>(c.n_heads));
  w.SetUint32(a + ".attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  w.SetFloat32(a + ".attention.layer_norm_rms_epsilon", c.norm_eps);
  w.SetFloat32(a + ".rope.freq_base", c.rope_theta);
  w.SetUint32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(c.bos_id));
  w.SetUint32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(c.eos_id));

  std::vector<std::vector<uint8_t>> keep;
  keep.reserve(4 + c.n_layers * 16);
  auto add = [&](const std::string& name, std::vector<uint64_t> dims, uint32_t type, std::vector<uint8_t> bytes) {
    keep.push_back(std::move(bytes));
    w.AddTensor(name, std::move(dims), type, keep.back().data(), keep.back().size());
  };
  auto f32 = [](const std::vector<float>& v) { return Bytes(v); };

  // The embedding in the asked type, from the bf16 table.
  std::vector<float> embed(m.embed_bf16.size());
  for (size_t i = 0; i < embed.size(); ++i) embed[i] = Bf16ToF32(m.embed_bf16[i]);
  const std::vector<uint64_t> edims{static_cast<uint64_t>(c.hidden), static_cast<uint64_t>(c.vocab)};
  if (spec.embed_type == 30) {
    add("token_embd.weight", edims, 30, Bytes(m.embed_bf16));
  } else if (spec.embed_type == 0) {
    add("token_embd.weight", edims, 0, f32(embed));
  } else if (spec.embed_type == 1) {
    std::vector<uint16_t> h(embed.size());
    for (size_t i = 0; i < h.size(); ++i) h[i] = F32ToF16(embed[i]);
    add("token_embd.weight", edims, 1, Bytes(h));
  } else if (spec.embed_type == 8) {  // Q8_0: 32 values, fp16 d = max|x| / 127, int8 round(x / d)
    std::vector<uint8_t> out(embed.size() / 32 * 34);
    for (size_t b = 0; b < embed.size() / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(embed[32 * b + j]));
      const float d = F16ToF32(F32ToF16(amax / 127.0f));
      PutHalf(out.data() + 34 * b, d);
      for (int j = 0; j < 32; ++j)
        out[34 * b + 2 + j] = static_cast<uint8_t>(static_cast<int8_t>(d > 0 ? std::nearbyint(embed[32 * b + j] / d) : 0));
    }
    add("token_embd.weight", edims, 8, std::move(out));
  }
  add("output_norm.weight", {static_cast<uint64_t>(c.hidden)}, 0, f32(m.final_norm));

  auto add_proj = [&](const std::string& base, const TestProjection& p) {
    const int64_t n = p.rows * p.cols;
    const std::vector<uint64_t> dims{static_cast<uint64_t>(p.cols), static_cast<uint64_t>(p.rows)};
    switch (spec.ternary_type) {
      case 36:
        add(base + ".weight", dims, 36, PackI2S(p.q.data(), n, p.d[0]));
        return;
      case 35:
      case 34: {
        std::vector<float> d = p.d;
        if (spec.scale_tensors) std::fill(d.begin(), d.end(), 1.0f);
        add(base + ".weight", dims, spec.ternary_type,
            spec.ternary_type == 35 ? PackTQ2(p.q.data(), n, d.data()) : PackTQ1(p.q.data(), n, d.data()));
        if (spec.scale_tensors) add(base + ".scale", {1}, 0, f32({p.d[0]}));
        return;
      }
      default: {
        std::vector<float> f(static_cast<size_t>(n));
        for (int64_t r = 0; r < p.rows; ++r)
          for (int64_t col = 0; col < p.cols; ++col) f[r * p.cols + col] = p.q[r * p.cols + col] * p.Scale(r, col);
        if (spec.ternary_type == 0) return add(base + ".weight", dims, 0, f32(f));
        std::vector<uint16_t> h(f.size());
        for (size_t i = 0; i < h.size(); ++i) h[i] = spec.ternary_type == 1 ? F32ToF16(f[i]) : F32ToBf16(f[i]);
        add(base + ".weight", dims, spec.ternary_type, Bytes(h));
      }
    }
  };
  for (int l = 0; l < c.n_layers; ++l) {
    const TestLayer& L = m.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {static_cast<uint64_t>(c.hidden)}, 0, f32(L.attn_norm));
    add_proj(p + "attn_q", L.q);
    add_proj(p + "attn_k", L.k);
    add_proj(p + "attn_v", L.v);
    add_proj(p + "attn_output", L.o);
    add(p + "attn_sub_norm.weight", {L.attn_sub_norm.size()}, 0, f32(L.attn_sub_norm));
    add(p + "ffn_norm.weight", {static_cast<uint64_t>(c.hidden)}, 0, f32(L.ffn_norm));
    add_proj(p + "ffn_gate", L.gate);
    add_proj(p + "ffn_up", L.up);
    add_proj(p + "ffn_down", L.down);
    add(p + "ffn_sub_norm.weight", {L.ffn_sub_norm.size()}, 0, f32(L.ffn_sub_norm));
  }
  w.Write(path);
}

std::vector<double> ReferenceForward(const TestModel& m, const std::vector<int32_t>& ids) {
  const ModelConfig& c = m.c;
  const int D = c.head_dim, H = c.n_heads, Hkv = c.n_kv_heads, n = static_cast<int>(ids.size());
  std::vector<Vec> x(n, Vec(c.hidden));
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < c.hidden; ++i) x[t][i] = Bf16ToF32(m.embed_bf16[static_cast<size_t>(ids[t]) * c.hidden + i]);
  for (const TestLayer& L : m.layers) {
    std::vector<Vec> q(n), k(n), v(n);
    for (int t = 0; t < n; ++t) {
      const Vec h = RmsNorm(x[t], L.attn_norm, c.norm_eps);
      q[t] = BitLinear(L.q, h);
      k[t] = BitLinear(L.k, h);
      v[t] = BitLinear(L.v, h);
      Rope(q[t].data(), H, D, t, c.rope_theta);
      Rope(k[t].data(), Hkv, D, t, c.rope_theta);
    }
    for (int t = 0; t < n; ++t) {
      Vec att(static_cast<size_t>(H) * D, 0.0);
      for (int hh = 0; hh < H; ++hh) {
        const int kv = hh / (H / Hkv);
        std::vector<double> s(t + 1);
        double mx = -1e300;
        for (int p = 0; p <= t; ++p) {
          double dot = 0;
          for (int i = 0; i < D; ++i) dot += q[t][hh * D + i] * k[p][kv * D + i];
          s[p] = dot / std::sqrt(static_cast<double>(D));
          mx = std::max(mx, s[p]);
        }
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (int p = 0; p <= t; ++p)
          for (int i = 0; i < D; ++i) att[hh * D + i] += s[p] / sum * v[p][kv * D + i];
      }
      const Vec o = BitLinear(L.o, RmsNorm(att, L.attn_sub_norm, c.norm_eps));
      for (int i = 0; i < c.hidden; ++i) x[t][i] += o[i];
      const Vec h = RmsNorm(x[t], L.ffn_norm, c.norm_eps);
      const Vec g = BitLinear(L.gate, h), u = BitLinear(L.up, h);
      Vec f(static_cast<size_t>(c.ffn));
      for (int i = 0; i < c.ffn; ++i)
        f[i] = (c.relu2 ? std::pow(std::max(g[i], 0.0), 2) : g[i] / (1 + std::exp(-g[i]))) * u[i];
      const Vec dn = BitLinear(L.down, RmsNorm(f, L.ffn_sub_norm, c.norm_eps));
      for (int i = 0; i < c.hidden; ++i) x[t][i] += dn[i];
    }
  }
  std::vector<double> logits(static_cast<size_t>(n) * c.vocab);
  for (int t = 0; t < n; ++t) {
    const Vec h = RmsNorm(x[t], m.final_norm, c.norm_eps);
    for (int r = 0; r < c.vocab; ++r) {
      double s = 0;
      for (int i = 0; i < c.hidden; ++i) s += Bf16ToF32(m.embed_bf16[static_cast<size_t>(r) * c.hidden + i]) * h[i];
      logits[static_cast<size_t>(t) * c.vocab + r] = s;
    }
  }
  return logits;
}

}  // namespace bitnet::testing
