// Exporters to the GGUF layouts of bitnet.cpp and llama.cpp. docs/FORMATS.md
// describes both, and what each engine does with them.
#include "model/export_gguf.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "formats/ggml_types.h"
#include "formats/gguf.h"
#include "model/foreign_ternary.h"
#include "model/gguf_metadata.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/half.h"
#include "util/progress.h"

namespace bitnet {
namespace {

// Owns every buffer a Writer points at until Write.
struct Buffers {
  std::vector<std::vector<uint8_t>> bytes;
  const uint8_t* Keep(std::vector<uint8_t> b) {
    bytes.push_back(std::move(b));
    return bytes.back().data();
  }
};


void AddDense(gguf::Writer& w, Buffers& buf, const std::string& name, const DenseMatrixView& m, bool to_f16) {
  Check(m.type != DenseType::kI8Row, name, "the int8 output matrix is built at load time and is not exported");
  const std::vector<uint64_t> dims{static_cast<uint64_t>(m.cols), static_cast<uint64_t>(m.rows)};
  if (!to_f16 || m.type == DenseType::kF16) {
    const uint32_t type = m.type == DenseType::kF32 ? kGgmlF32 : m.type == DenseType::kF16 ? kGgmlF16 : kGgmlBF16;
    w.AddTensor(name, dims, type, m.data, static_cast<uint64_t>(m.rows * m.cols * m.bytes_per_element()));
    return;
  }
  std::vector<uint8_t> out(static_cast<size_t>(m.rows * m.cols * 2));
  std::vector<float> row(static_cast<size_t>(m.cols));
  for (int64_t r = 0; r < m.rows; ++r) {
    DenseRow(m, r, row.data());
    for (int64_t c = 0; c < m.cols; ++c) {
      const uint16_t h = F32ToF16(row[c]);
      std::memcpy(out.data() + 2 * (r * m.cols + c), &h, 2);
    }
  }
  w.AddTensor(name, dims, kGgmlF16, buf.Keep(std::move(out)), m.rows * m.cols * 2);
}

void AddVector(gguf::Writer& w, const std::string& name, const std::vector<float>& v) {
  w.AddTensor(name, {v.size()}, kGgmlF32, v.data(), v.size() * 4);
}

// Rows [begin, end) of a fused BitLinear as one projection.
ForeignTernary Slice(const BitLinearWeights& bl, int64_t begin, int64_t end) {
  ForeignTernary t;
  t.rows = end - begin;
  t.cols = bl.w.cols;
  t.values.resize(static_cast<size_t>(t.rows * t.cols));
  for (int64_t r = 0; r < t.rows; ++r)
    for (int64_t c = 0; c < t.cols; ++c) t.values[r * t.cols + c] = TernaryAt(bl.w, begin + r, c);
  t.block_scales = BlockScalesOf(bl, begin, end);
  return t;
}

// q * d as f32: exact, and every ggml engine multiplies F32 matrices.
std::vector<uint8_t> AsF32(const ForeignTernary& t) {
  const int64_t nb = BlocksPerRow(t.cols);
  std::vector<uint8_t> out(static_cast<size_t>(t.rows * t.cols * 4));
  for (int64_t r = 0; r < t.rows; ++r)
    for (int64_t c = 0; c < t.cols; ++c) {
      const float v = static_cast<float>(t.values[r * t.cols + c]) * t.block_scales[r * nb + c / kScaleBlock];
      std::memcpy(out.data() + 4 * (r * t.cols + c), &v, 4);
    }
  return out;
}

bool HalfExact(float v) { return F16ToF32(F32ToF16(v)) == v; }

class ProjectionWriter {
 public:
  ProjectionWriter(gguf::Writer& w, Buffers& buf, uint32_t type, const std::string& path)
      : w_(w), buf_(buf), type_(type), path_(path) {}

  void Add(const std::string& base, const ForeignTernary& t) {
    const std::vector<uint64_t> dims{static_cast<uint64_t>(t.cols), static_cast<uint64_t>(t.rows)};
    const ScaleShape shape = ClassifyScales(t, base);
    float uniform = 1.0f;
    for (float d : t.block_scales)
      if (d != 0.0f) {
        uniform = d;
        break;
      }
    if (type_ == kGgmlI2_S && t.cols % kTernaryBlock == 0 && shape == ScaleShape::kUniform) {
      std::vector<uint8_t> packed = PackTernaryType(kGgmlI2_S, t.values.data(), t.rows * t.cols, {uniform});
      // bitnet.cpp's converter fills the 32 bytes after the data with the
      // scale repeated 8 times; its kernels read the first.
      for (int i = 1; i < 8; ++i) std::memcpy(packed.data() + t.rows * t.cols / 4 + 4 * i, &uniform, 4);
      const uint64_t size = packed.size();
      w_.AddTensor(base + ".weight", dims, kGgmlI2_S, buf_.Keep(std::move(packed)), size);
      return;
    }
    if ((type_ == kGgmlTQ2_0 || type_ == kGgmlTQ1_0) && t.cols % kScaleBlock == 0) {
      // Exact when each block's d survives fp16; else a uniform scale moves to
      // "<base>.scale" (f32, multiplied in by llama.cpp's bitnet graph) with d = 1.
      bool exact = true;
      for (float d : t.block_scales) exact = exact && HalfExact(d);
      if (exact || shape == ScaleShape::kUniform) {
        std::vector<float> d(t.block_scales);
        for (float& s : d) s = exact ? s : 1.0f;
        std::vector<uint8_t> packed = PackTernaryType(type_, t.values.data(), t.rows * t.cols, d);
        const uint64_t size = packed.size();
        w_.AddTensor(base + ".weight", dims, type_, buf_.Keep(std::move(packed)), size);
        if (!exact) {
          std::vector<uint8_t> s(4);
          std::memcpy(s.data(), &uniform, 4);
          w_.AddTensor(base + ".scale", {1}, kGgmlF32, buf_.Keep(std::move(s)), 4);
        }
        return;
      }
    }
    ++fallbacks_;
    std::vector<uint8_t> f = AsF32(t);
    const uint64_t size = f.size();
    w_.AddTensor(base + ".weight", dims, kGgmlF32, buf_.Keep(std::move(f)), size);
  }

  void Report() const {
    if (fallbacks_ > 0)
      std::fprintf(stderr,
                   "warning: %s: %d projection(s) stored as ternary-valued F32: their width or scales do not fit %s "
                   "(I2_S needs rows of 128-multiples and one scale per tensor; TQ rows of 256-multiples)\n",
                   path_.c_str(), fallbacks_, GgmlTypeName(type_));
  }

 private:
  gguf::Writer& w_;
  Buffers& buf_;
  uint32_t type_;
  std::string path_;
  int fallbacks_ = 0;
};

void WriteForeign(const ModelWeights& m, const Tokenizer* tokenizer, const std::string& path, const std::string& arch,
                  uint32_t type, bool embed_f16) {
  const ModelConfig& c = m.config;
  gguf::Writer w;
  WriteGgufModelConfig(w, arch, c);
  WriteGgufTokenizer(w, c, tokenizer);
  Buffers buf;
  ProjectionWriter proj(w, buf, type, path);
  AddDense(w, buf, "token_embd.weight", m.embed, embed_f16);
  if (m.output.data != m.embed.data) AddDense(w, buf, "output.weight", m.output, embed_f16);
  AddVector(w, "output_norm.weight", m.final_norm);
  const int64_t q_rows = static_cast<int64_t>(c.n_heads) * c.head_dim;
  const int64_t kv_rows = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
  Progress progress("packing", static_cast<int64_t>(m.layers.size()));
  for (size_t l = 0; l < m.layers.size(); ++l) {
    progress.Update(static_cast<int64_t>(l));
    const LayerWeights& L = m.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    AddVector(w, p + "attn_norm.weight", L.attn_norm);
    proj.Add(p + "attn_q", Slice(L.qkv, 0, q_rows));
    proj.Add(p + "attn_k", Slice(L.qkv, q_rows, q_rows + kv_rows));
    proj.Add(p + "attn_v", Slice(L.qkv, q_rows + kv_rows, q_rows + 2 * kv_rows));
    proj.Add(p + "attn_output", Slice(L.o, 0, c.hidden));
    AddVector(w, p + "attn_sub_norm.weight", L.attn_sub_norm);
    AddVector(w, p + "ffn_norm.weight", L.ffn_norm);
    proj.Add(p + "ffn_gate", Slice(L.gate_up, 0, c.ffn));
    proj.Add(p + "ffn_up", Slice(L.gate_up, c.ffn, 2 * c.ffn));
    proj.Add(p + "ffn_down", Slice(L.down, 0, c.hidden));
    AddVector(w, p + "ffn_sub_norm.weight", L.ffn_sub_norm);
  }
  w.Write(path);
  proj.Report();
}

}  // namespace

void WriteBitnetCppGguf(const ModelWeights& weights, const Tokenizer* tokenizer, const std::string& path) {
  // Like the official ggml-model-i2_s.gguf: f16 embedding, I2_S projections.
  WriteForeign(weights, tokenizer, path, "bitnet-25", kGgmlI2_S, true);
}

void WriteLlamaCppGguf(const ModelWeights& weights, const Tokenizer* tokenizer, const std::string& path,
                       const std::string& format) {
  Check(format == "tq2_0" || format == "tq1_0", "--format", "expected tq2_0 or tq1_0, got '" + format + "'");
  if (weights.config.relu2)
    std::fprintf(stderr,
                 "warning: upstream llama.cpp computes the 'bitnet' architecture's FFN gate with SiLU, not relu^2: "
                 "it will run this model wrongly (this engine reads the file back correctly)\n");
  // llama.cpp multiplies F32, F16 and BF16 embeddings alike: keep the source's type, so logits stay exact.
  WriteForeign(weights, tokenizer, path, "bitnet", format == "tq2_0" ? kGgmlTQ2_0 : kGgmlTQ1_0, false);
}

}  // namespace bitnet
