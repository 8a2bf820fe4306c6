#include "model/load_hf.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "formats/safetensors.h"
#include "kernels/quantize.h"
#include "model/config.h"
#include "util/error.h"
#include "util/half.h"
#include "util/progress.h"

namespace bitnet {
namespace {

std::string Where(const SafetensorsTensor& t) { return t.file + ": tensor '" + Printable(t.name) + "'"; }

void CheckShape(const SafetensorsTensor& t, const std::vector<int64_t>& shape) {
  if (t.shape == shape) return;
  auto str = [](const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  };
  throw Error(Where(t) + ": shape " + str(t.shape) + ", expected " + str(shape));
}

// Any float tensor as float32.
std::vector<float> ToF32(const SafetensorsTensor& t) {
  const int64_t n = t.numel();
  std::vector<float> out(static_cast<size_t>(n));
  if (t.dtype == "F32") {
    std::memcpy(out.data(), t.data, static_cast<size_t>(n) * 4);
  } else if (t.dtype == "BF16" || t.dtype == "F16") {
    const bool bf = t.dtype == "BF16";
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      out[i] = bf ? Bf16ToF32(h) : F16ToF32(h);
    }
  } else {
    throw Error(Where(t) + ": dtype " + t.dtype + " where a float tensor (F32, F16, BF16) is expected");
  }
  return out;
}

std::vector<float> LoadVector(const SafetensorsModel& st, const std::string& name, int64_t n) {
  const SafetensorsTensor& t = st.Get(name);
  CheckShape(t, {n});
  return ToF32(t);
}

DenseMatrixView LoadDense(const SafetensorsTensor& t, int64_t rows, int64_t cols) {
  CheckShape(t, {rows, cols});
  DenseMatrixView v;
  v.rows = rows;
  v.cols = cols;
  v.data = t.data;
  if (t.dtype == "BF16") v.type = DenseType::kBf16;
  else if (t.dtype == "F16") v.type = DenseType::kF16;
  else if (t.dtype == "F32") v.type = DenseType::kF32;
  else throw Error(Where(t) + ": dtype " + t.dtype + " where BF16, F16 or F32 is expected");
  return v;
}

struct TernaryPart {
  std::vector<int8_t> values;  // [rows][cols]
  float scale = 1.0f;
};

class HfLoader {
 public:
  HfLoader(const SafetensorsModel& st, const HfConfig& cfg, bool divide_scale)
      : st_(st), packed_(cfg.quant.mode == "offline"), divide_(divide_scale) {}

  TernaryPart Load(const std::string& prefix, int64_t rows, int64_t cols) const {
    TernaryPart part;
    part.values.resize(static_cast<size_t>(rows * cols));
    const SafetensorsTensor& w = st_.Get(prefix + ".weight");
    if (!packed_) {
      CheckShape(w, {rows, cols});
      std::vector<float> f = ToF32(w);
      part.scale = TernarizeAbsmean(f.data(), rows * cols, part.values.data());
      return part;
    }
    Check(w.dtype == "U8", Where(w), "dtype " + Printable(w.dtype) + ", expected U8 packed ternary codes");
    Check(rows % 4 == 0, Where(w), "output size " + std::to_string(rows) + " is not a multiple of 4");
    CheckShape(w, {rows / 4, cols});
    try {
      UnpackHfPackedTernary(w.data, rows, cols, part.values.data());
    } catch (const Error& e) {
      throw Error(Where(w) + ": " + e.what());  // the unpacker does not know the file
    }
    const SafetensorsTensor& s = st_.Get(prefix + ".weight_scale");
    Check(s.numel() == 1, Where(s), "expected a single scale");
    const float raw = ToF32(s)[0];
    Check(std::isfinite(raw) && raw > 0.0f, Where(s), "scale must be finite and positive");
    part.scale = divide_ ? 1.0f / raw : raw;
    return part;
  }

 private:
  const SafetensorsModel& st_;
  bool packed_;
  bool divide_;
};

}  // namespace

void UnpackHfPackedTernary(const uint8_t* packed, int64_t out_rows, int64_t in_cols, int8_t* values) {
  const int64_t q = out_rows / 4;
  for (int i = 0; i < 4; ++i)
    for (int64_t r = 0; r < q; ++r)
      for (int64_t c = 0; c < in_cols; ++c) {
        const int code = (packed[r * in_cols + c] >> (2 * i)) & 3;
        if (code == 3) throw Error("packed ternary weight: code 3 at row " + std::to_string(i * q + r) + " has no meaning");
        values[(i * q + r) * in_cols + c] = static_cast<int8_t>(code - 1);
      }
}

std::vector<uint8_t> PackHfPackedTernary(const int8_t* values, int64_t out_rows, int64_t in_cols) {
  const int64_t q = out_rows / 4;
  std::vector<uint8_t> packed(static_cast<size_t>(q * in_cols), 0);
  for (int i = 0; i < 4; ++i)
    for (int64_t r = 0; r < q; ++r)
      for (int64_t c = 0; c < in_cols; ++c)
        packed[r * in_cols + c] |= static_cast<uint8_t>((values[(i * q + r) * in_cols + c] + 1) << (2 * i));
  return packed;
}

ModelWeights LoadHfDirectory(const std::string& dir, const std::string& packed_scale) {
  namespace fs = std::filesystem;
  const HfConfig cfg = ReadHfConfig((fs::path(dir) / "config.json").string());
  const ModelConfig& c = cfg.model;
  Check(packed_scale == "auto" || packed_scale == "multiply" || packed_scale == "divide", "--packed-scale",
        "expected auto, multiply or divide, got '" + packed_scale + "'");
  auto st = std::make_shared<SafetensorsModel>(dir);

  ModelWeights m;
  m.config = c;
  m.source = dir;
  m.storage.push_back(st);
  const bool packed = cfg.quant.mode == "offline";
  m.container = "hf directory";
  m.format = packed ? "hf-packed" : "hf-bf16";
  bool divide = cfg.quant.linear_class == "bitlinear";
  if (packed_scale != "auto") divide = packed_scale == "divide";
  if (packed) {
    m.scale_convention = std::string("packed weight_scale ") + (divide ? "divides" : "multiplies") + " the output (" +
                         (packed_scale != "auto" ? "--packed-scale " + packed_scale
                                                 : "quantization_config.linear_class = " + cfg.quant.linear_class) +
                         ")";
  } else {
    m.scale_convention = "absmean scales computed from bf16 master weights at load";
  }
  m.activation_note = std::string(c.relu2 ? "relu^2" : "SiLU") + " FFN gate (config.json hidden_act)";
  m.sampling = ReadGenerationConfig((fs::path(dir) / "generation_config.json").string());

  const int64_t hidden = c.hidden, ffn = c.ffn, hd = c.head_dim;
  const int64_t q_rows = c.n_heads * hd, kv_rows = c.n_kv_heads * hd;
  m.embed = LoadDense(st->Get("model.embed_tokens.weight"), c.vocab, hidden);
  if (cfg.tie_word_embeddings) {
    m.output = m.embed;
  } else {
    m.output = LoadDense(st->Get("lm_head.weight"), c.vocab, hidden);
  }
  m.final_norm = LoadVector(*st, "model.norm.weight", hidden);

  HfLoader loader(*st, cfg, divide);
  // Ternarizing bf16 weights is the slow part of loading (and of convert).
  Progress progress("loading", c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    progress.Update(l);
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights layer;
    layer.attn_norm = LoadVector(*st, p + "input_layernorm.weight", hidden);
    layer.attn_sub_norm = LoadVector(*st, p + "self_attn.attn_sub_norm.weight", hidden);
    layer.ffn_norm = LoadVector(*st, p + "post_attention_layernorm.weight", hidden);
    layer.ffn_sub_norm = LoadVector(*st, p + "mlp.ffn_sub_norm.weight", ffn);
    {
      TernaryPart q = loader.Load(p + "self_attn.q_proj", q_rows, hidden);
      TernaryPart k = loader.Load(p + "self_attn.k_proj", kv_rows, hidden);
      TernaryPart v = loader.Load(p + "self_attn.v_proj", kv_rows, hidden);
      layer.qkv = FuseBitLinear(m, {q.values.data(), k.values.data(), v.values.data()}, {q_rows, kv_rows, kv_rows},
                                {q.scale, k.scale, v.scale}, hidden);
    }
    {
      TernaryPart o = loader.Load(p + "self_attn.o_proj", hidden, q_rows);
      layer.o = FuseBitLinear(m, {o.values.data()}, {hidden}, {o.scale}, q_rows);
    }
    {
      TernaryPart g = loader.Load(p + "mlp.gate_proj", ffn, hidden);
      TernaryPart u = loader.Load(p + "mlp.up_proj", ffn, hidden);
      layer.gate_up = FuseBitLinear(m, {g.values.data(), u.values.data()}, {ffn, ffn}, {g.scale, u.scale}, hidden);
    }
    {
      TernaryPart d = loader.Load(p + "mlp.down_proj", hidden, ffn);
      layer.down = FuseBitLinear(m, {d.values.data()}, {hidden}, {d.scale}, ffn);
    }
    m.layers.push_back(std::move(layer));
  }
  return m;
}

}  // namespace bitnet
