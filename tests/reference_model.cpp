#include "reference_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "gguf_test_writers.h"

namespace bitnet::testing {
namespace {

double Bf16(const uint8_t* p) {
  uint32_t bits = static_cast<uint32_t>(p[0] | (p[1] << 8)) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::vector<float> LoadFloats(const SafetensorsModel& st, const std::string& name) {
  const SafetensorsTensor& t = st.Get(name);
  std::vector<float> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(Bf16(t.data + 2 * i));
  return v;
}

// Absmean ternarization written from the math in double: s = mean|W|
// (clamped at 1e-5), q = clamp(round_half_even(W / s), -1, 1).
TestProjection Ternarize(const SafetensorsModel& st, const std::string& name, int64_t rows, int64_t cols) {
  const SafetensorsTensor& t = st.Get(name);
  std::vector<double> w(static_cast<size_t>(rows * cols));
  double sum = 0;
  for (size_t i = 0; i < w.size(); ++i) sum += std::fabs(w[i] = Bf16(t.data + 2 * i));
  const double s = std::max(sum / static_cast<double>(w.size()), 1e-5);
  TestProjection p;
  p.rows = rows;
  p.cols = cols;
  p.q.resize(w.size());
  for (size_t i = 0; i < w.size(); ++i) p.q[i] = static_cast<int8_t>(std::clamp(std::nearbyint(w[i] / s), -1.0, 1.0));
  p.d.assign(static_cast<size_t>(rows * ((cols + kTestScaleBlock - 1) / kTestScaleBlock)), static_cast<float>(s));
  return p;
}

}  // namespace

std::vector<double> ReferenceLogits(const std::string& dir, const std::vector<int32_t>& ids) {
  const nlohmann::json cfg = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
  TestModel m;
  ModelConfig& c = m.c;
  c.hidden = cfg["hidden_size"];
  c.n_layers = cfg["num_hidden_layers"];
  c.n_heads = cfg["num_attention_heads"];
  c.n_kv_heads = cfg["num_key_value_heads"];
  c.ffn = cfg["intermediate_size"];
  c.vocab = cfg["vocab_size"];
  c.head_dim = c.hidden / c.n_heads;
  c.norm_eps = cfg["rms_norm_eps"];
  c.rope_theta = cfg["rope_theta"];
  c.relu2 = cfg.value("hidden_act", "relu2") == "relu2";
  const SafetensorsModel st(dir);
  const SafetensorsTensor& embed = st.Get("model.embed_tokens.weight");
  m.embed_bf16.resize(static_cast<size_t>(embed.numel()));
  std::memcpy(m.embed_bf16.data(), embed.data, embed.size_bytes);
  m.final_norm = LoadFloats(st, "model.norm.weight");
  const int64_t H = c.hidden, F = c.ffn, q_rows = c.n_heads * c.head_dim, kv_rows = c.n_kv_heads * c.head_dim;
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    TestLayer L;
    L.attn_norm = LoadFloats(st, p + "input_layernorm.weight");
    L.ffn_norm = LoadFloats(st, p + "post_attention_layernorm.weight");
    L.attn_sub_norm = LoadFloats(st, p + "self_attn.attn_sub_norm.weight");
    L.ffn_sub_norm = LoadFloats(st, p + "mlp.ffn_sub_norm.weight");
    L.q = Ternarize(st, p + "self_attn.q_proj.weight", q_rows, H);
    L.k = Ternarize(st, p + "self_attn.k_proj.weight", kv_rows, H);
    L.v = Ternarize(st, p + "self_attn.v_proj.weight", kv_rows, H);
    L.o = Ternarize(st, p + "self_attn.o_proj.weight", H, q_rows);
    L.gate = Ternarize(st, p + "mlp.gate_proj.weight", F, H);
    L.up = Ternarize(st, p + "mlp.up_proj.weight", F, H);
    L.down = Ternarize(st, p + "mlp.down_proj.weight", H, F);
    m.layers.push_back(std::move(L));
  }
  return ReferenceForward(m, ids);
}

}  // namespace bitnet::testing
