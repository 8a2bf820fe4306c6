#include "reference_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"

namespace bitnet::testing {
namespace {

using Vec = std::vector<double>;

double Bf16(const uint8_t* p) {
  uint32_t bits = static_cast<uint32_t>(p[0] | (p[1] << 8)) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

Vec Load(const SafetensorsModel& st, const std::string& name) {
  const SafetensorsTensor& t = st.Get(name);
  Vec v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = Bf16(t.data + 2 * i);
  return v;
}

// Round half to even, as torch.round.
double RoundEven(double x) {
  const double r = std::nearbyint(x);  // default rounding mode is to-nearest-even
  return r;
}

Vec RmsNorm(const Vec& x, const Vec& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  Vec out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * inv * w[i];
  return out;
}

struct Ternary {
  std::vector<int> w;  // [out][in]
  double scale;
  size_t out, in;
};

Ternary Ternarize(const Vec& w, size_t out, size_t in) {
  double sum = 0;
  for (double v : w) sum += std::fabs(v);
  Ternary t{std::vector<int>(w.size()), std::max(sum / static_cast<double>(w.size()), 1e-5), out, in};
  for (size_t i = 0; i < w.size(); ++i) t.w[i] = static_cast<int>(std::clamp(RoundEven(w[i] / t.scale), -1.0, 1.0));
  return t;
}

// y = (Wt . xq) * s / a with a = 127 / max|x|, xq = clamp(round(x * a), -128, 127).
Vec BitLinear(const Ternary& t, const Vec& x) {
  double mx = 0;
  for (double v : x) mx = std::max(mx, std::fabs(v));
  const double a = 127.0 / std::max(mx, 1e-5);
  std::vector<long> xq(x.size());
  for (size_t i = 0; i < x.size(); ++i) xq[i] = static_cast<long>(std::clamp(RoundEven(x[i] * a), -128.0, 127.0));
  Vec y(t.out);
  for (size_t r = 0; r < t.out; ++r) {
    long acc = 0;
    for (size_t c = 0; c < t.in; ++c) acc += t.w[r * t.in + c] * xq[c];
    y[r] = static_cast<double>(acc) * t.scale / a;
  }
  return y;
}

}  // namespace

std::vector<double> ReferenceLogits(const std::string& dir, const std::vector<int32_t>& ids) {
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
  const size_t H = cfg["hidden_size"], L = cfg["num_hidden_layers"], NH = cfg["num_attention_heads"],
               NKV = cfg["num_key_value_heads"], F = cfg["intermediate_size"], V = cfg["vocab_size"];
  const size_t D = H / NH;
  const double eps = cfg["rms_norm_eps"], theta = cfg["rope_theta"];
  SafetensorsModel st(dir);
  const Vec embed = Load(st, "model.embed_tokens.weight");
  const size_t T = ids.size();

  std::vector<Vec> x(T);
  for (size_t t = 0; t < T; ++t) x[t] = Vec(embed.begin() + ids[t] * H, embed.begin() + (ids[t] + 1) * H);

  for (size_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const Ternary wq = Ternarize(Load(st, p + "self_attn.q_proj.weight"), NH * D, H);
    const Ternary wk = Ternarize(Load(st, p + "self_attn.k_proj.weight"), NKV * D, H);
    const Ternary wv = Ternarize(Load(st, p + "self_attn.v_proj.weight"), NKV * D, H);
    const Ternary wo = Ternarize(Load(st, p + "self_attn.o_proj.weight"), H, NH * D);
    const Ternary wg = Ternarize(Load(st, p + "mlp.gate_proj.weight"), F, H);
    const Ternary wu = Ternarize(Load(st, p + "mlp.up_proj.weight"), F, H);
    const Ternary wd = Ternarize(Load(st, p + "mlp.down_proj.weight"), H, F);
    const Vec n_in = Load(st, p + "input_layernorm.weight"), n_post = Load(st, p + "post_attention_layernorm.weight");
    const Vec n_attn = Load(st, p + "self_attn.attn_sub_norm.weight"), n_ffn = Load(st, p + "mlp.ffn_sub_norm.weight");

    std::vector<Vec> q(T), k(T), v(T);
    for (size_t t = 0; t < T; ++t) {
      const Vec n = RmsNorm(x[t], n_in, eps);
      q[t] = BitLinear(wq, n);
      k[t] = BitLinear(wk, n);
      v[t] = BitLinear(wv, n);
      // RoPE, Hugging Face rotate_half: d pairs with d + D/2.
      auto rope = [&](Vec& vec, size_t heads) {
        for (size_t h = 0; h < heads; ++h)
          for (size_t i = 0; i < D / 2; ++i) {
            const double ang = static_cast<double>(t) * std::pow(theta, -2.0 * static_cast<double>(i) / D);
            const double a = vec[h * D + i], b = vec[h * D + i + D / 2];
            vec[h * D + i] = a * std::cos(ang) - b * std::sin(ang);
            vec[h * D + i + D / 2] = b * std::cos(ang) + a * std::sin(ang);
          }
      };
      rope(q[t], NH);
      rope(k[t], NKV);
    }
    for (size_t t = 0; t < T; ++t) {
      Vec attn(NH * D, 0.0);
      for (size_t h = 0; h < NH; ++h) {
        const size_t kh = h / (NH / NKV);
        Vec s(t + 1);
        double mx = -1e300;
        for (size_t j = 0; j <= t; ++j) {
          double dot = 0;
          for (size_t d = 0; d < D; ++d) dot += q[t][h * D + d] * k[j][kh * D + d];
          s[j] = dot / std::sqrt(static_cast<double>(D));
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        for (size_t j = 0; j <= t; ++j)
          for (size_t d = 0; d < D; ++d) attn[h * D + d] += s[j] / z * v[j][kh * D + d];
      }
      const Vec o = BitLinear(wo, RmsNorm(attn, n_attn, eps));
      for (size_t i = 0; i < H; ++i) x[t][i] += o[i];
      const Vec m = RmsNorm(x[t], n_post, eps);
      const Vec g = BitLinear(wg, m), u = BitLinear(wu, m);
      Vec h(F);
      for (size_t i = 0; i < F; ++i) h[i] = std::pow(std::max(g[i], 0.0), 2) * u[i];
      const Vec dn = BitLinear(wd, RmsNorm(h, n_ffn, eps));
      for (size_t i = 0; i < H; ++i) x[t][i] += dn[i];
    }
  }
  const Vec n_final = Load(st, "model.norm.weight");
  std::vector<double> logits(T * V);
  for (size_t t = 0; t < T; ++t) {
    const Vec n = RmsNorm(x[t], n_final, eps);
    for (size_t r = 0; r < V; ++r) {
      double acc = 0;
      for (size_t i = 0; i < H; ++i) acc += embed[r * H + i] * n[i];
      logits[t * V + r] = acc;
    }
  }
  return logits;
}

}  // namespace bitnet::testing
