#include "model/native_gguf.h"

#include <cmath>
#include <cstring>

#include "formats/ggml_types.h"
#include "formats/gguf.h"
#include "kernels/output_int8.h"
#include "model/config.h"
#include "model/gguf_metadata.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace bitnet {
namespace {

std::string Key(const char* suffix) { return std::string(kNativeArch) + "." + suffix; }

uint32_t DenseGgmlType(DenseType t) {
  switch (t) {
    case DenseType::kF32: return kGgmlF32;
    case DenseType::kBf16: return kGgmlBF16;
    case DenseType::kF16: return kGgmlF16;
    case DenseType::kI8Row: break;
  }
  throw Error("convert: the int8 output matrix is built at load time and is not written to files");
}

void AddDense(gguf::Writer& w, const std::string& name, const DenseMatrixView& m) {
  w.AddTensor(name, {static_cast<uint64_t>(m.cols), static_cast<uint64_t>(m.rows)}, DenseGgmlType(m.type), m.data,
              static_cast<uint64_t>(m.rows * m.cols * m.bytes_per_element()));
}

void AddVector(gguf::Writer& w, const std::string& name, const std::vector<float>& v) {
  w.AddTensor(name, {v.size()}, kGgmlF32, v.data(), v.size() * 4);
}

void AddBitLinear(gguf::Writer& w, const std::string& name, const BitLinearWeights& bl,
                  std::vector<std::vector<float>>& scale_storage) {
  w.AddTensor(name + ".weight", {static_cast<uint64_t>(bl.w.cols), static_cast<uint64_t>(bl.w.rows)}, kGgmlBitnetT2,
              bl.w.codes, bl.w.size_bytes());
  std::vector<float>& scales = scale_storage.emplace_back();
  for (const RowRangeScale& r : bl.ranges) scales.push_back(r.scale);
  w.AddTensor(name + ".scale", {scales.size()}, kGgmlF32, scales.data(), scales.size() * 4);
}

// The output matrix's int8-per-row form, [vocab][hidden] I8 + F32 scale and
// I32 row sum per row, written beside the float matrix so that choosing the
// int8 output at load is a memory map, not a quantization pass.
struct Int8Output {
  std::vector<int8_t> q;
  std::vector<float> scales;
  std::vector<int32_t> sums;
};

void AddInt8Output(gguf::Writer& w, const DenseMatrixView& m, Int8Output& storage) {
  const int8_t* q = m.int8_data;
  const float* scales = m.int8_scales;
  const int32_t* sums = m.int8_sums;
  if (q == nullptr) {
    storage.q.resize(static_cast<size_t>(m.rows * m.cols));
    storage.scales.resize(static_cast<size_t>(m.rows));
    storage.sums.resize(static_cast<size_t>(m.rows));
    QuantizeDenseRowsInt8(m, storage.q.data(), storage.scales.data());
    Int8RowSums(storage.q.data(), m.rows, m.cols, storage.sums.data());
    q = storage.q.data();
    scales = storage.scales.data();
    sums = storage.sums.data();
  }
  const auto rows = static_cast<uint64_t>(m.rows), cols = static_cast<uint64_t>(m.cols);
  w.AddTensor("output_int8.weight", {cols, rows}, kGgmlI8, q, rows * cols);
  w.AddTensor("output_int8.scale", {rows}, kGgmlF32, scales, rows * 4);
  w.AddTensor("output_int8.rowsum", {rows}, kGgmlI32, sums, rows * 4);
}

class NativeReader {
 public:
  explicit NativeReader(const gguf::File& f) : f_(f) {}

  const gguf::TensorInfo& Tensor(const std::string& name, uint32_t type, std::vector<uint64_t> dims) const {
    const gguf::TensorInfo* t = f_.FindTensor(name);
    Check(t != nullptr, f_.path(), "missing tensor '" + name + "'");
    Check(t->type == type, f_.path() + ": tensor '" + name + "'",
          std::string("type ") + GgmlTypeName(t->type) + ", expected " + GgmlTypeName(type));
    Check(t->dims == dims, f_.path() + ": tensor '" + name + "'", "unexpected shape");
    Check(t->data != nullptr, f_.path() + ": tensor '" + name + "'", "no data");
    return *t;
  }

  std::vector<float> Vector(const std::string& name, int64_t n) const {
    const gguf::TensorInfo& t = Tensor(name, kGgmlF32, {static_cast<uint64_t>(n)});
    std::vector<float> v(static_cast<size_t>(n));
    std::memcpy(v.data(), t.data, v.size() * 4);
    return v;
  }

  DenseMatrixView Dense(const std::string& name, int64_t rows, int64_t cols) const {
    const gguf::TensorInfo* t = f_.FindTensor(name);
    Check(t != nullptr, f_.path(), "missing tensor '" + name + "'");
    DenseMatrixView m;
    if (t->type == kGgmlBF16) m.type = DenseType::kBf16;
    else if (t->type == kGgmlF16) m.type = DenseType::kF16;
    else if (t->type == kGgmlF32) m.type = DenseType::kF32;
    else throw Error(f_.path() + ": tensor '" + name + "': type " + GgmlTypeName(t->type) + ", expected BF16, F16 or F32");
    Tensor(name, t->type, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)});
    m.rows = rows;
    m.cols = cols;
    m.data = t->data;
    return m;
  }

  // Attaches output_int8.* to the float output view when the file has them.
  void AttachInt8Output(DenseMatrixView& m) const {
    if (f_.FindTensor("output_int8.weight") == nullptr) return;
    const auto rows = static_cast<uint64_t>(m.rows), cols = static_cast<uint64_t>(m.cols);
    m.int8_data = reinterpret_cast<const int8_t*>(Tensor("output_int8.weight", kGgmlI8, {cols, rows}).data);
    m.int8_scales = reinterpret_cast<const float*>(Tensor("output_int8.scale", kGgmlF32, {rows}).data);
    m.int8_sums = reinterpret_cast<const int32_t*>(Tensor("output_int8.rowsum", kGgmlI32, {rows}).data);
    // Scales and sums are small; checking them keeps a corrupt file from
    // producing silent garbage logits (the int8 values cannot be out of range).
    for (uint64_t r = 0; r < rows; ++r) {
      if (!(std::isfinite(m.int8_scales[r]) && m.int8_scales[r] >= 0))
        throw Error(f_.path() + ": tensor 'output_int8.scale': row " + std::to_string(r) +
                    " has a negative or non-finite scale");
      if (std::abs(static_cast<int64_t>(m.int8_sums[r])) > 127 * static_cast<int64_t>(cols))
        throw Error(f_.path() + ": tensor 'output_int8.rowsum': row " + std::to_string(r) + " is out of range");
    }
  }

  BitLinearWeights BitLinear(const std::string& name, int64_t cols, const std::vector<int64_t>& part_rows) const {
    int64_t rows = 0;
    for (int64_t r : part_rows) rows += r;
    const gguf::TensorInfo& t = Tensor(name + ".weight", kGgmlBitnetT2, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)});
    BitLinearWeights bl;
    bl.w = TernaryMatrixView{rows, cols, TernaryPaddedCols(cols), t.data};
    Check(t.size_bytes == bl.w.size_bytes(), f_.path() + ": tensor '" + name + ".weight'", "size does not match its shape");
    Check(ValidateTernaryCodes(bl.w), f_.path() + ": tensor '" + name + ".weight'", "holds the invalid 2-bit code 3");
    const std::vector<float> scales = Vector(name + ".scale", static_cast<int64_t>(part_rows.size()));
    int64_t at = 0;
    for (size_t i = 0; i < part_rows.size(); ++i) {
      Check(std::isfinite(scales[i]) && scales[i] > 0, f_.path() + ": tensor '" + name + ".scale'",
            "scales must be finite and positive");
      bl.ranges.push_back({at, at + part_rows[i], scales[i]});
      at += part_rows[i];
    }
    return bl;
  }

 private:
  const gguf::File& f_;
};

int GetDim(const gguf::File& f, const char* suffix) {
  const uint64_t v = f.GetUint(Key(suffix));
  Check(v > 0 && v < (1u << 30), f.path(), "metadata '" + Key(suffix) + "' is out of range");
  return static_cast<int>(v);
}

}  // namespace

void WriteNativeGguf(const ModelWeights& m, const Tokenizer* tokenizer, const std::string& path) {
  const ModelConfig& c = m.config;
  gguf::Writer w;
  WriteGgufModelConfig(w, kNativeArch, c);
  w.SetString("general.name", "BitNet b1.58");
  w.SetUint32(Key("format_version"), 1);
  w.SetString(Key("source_format"), m.format);
  w.SetString(Key("scale_convention"), m.scale_convention);
  w.SetFloat32(Key("sampling.temperature"), m.sampling.temperature);
  w.SetFloat32(Key("sampling.top_p"), m.sampling.top_p);
  w.SetUint32(Key("sampling.top_k"), static_cast<uint32_t>(m.sampling.top_k));
  WriteGgufTokenizer(w, c, tokenizer);

  std::vector<std::vector<float>> scale_storage;
  scale_storage.reserve(m.layers.size() * 4);
  AddDense(w, "token_embd.weight", m.embed);
  if (m.output.data != m.embed.data) AddDense(w, "output.weight", m.output);
  Int8Output int8_storage;
  if (m.output.type != DenseType::kI8Row) AddInt8Output(w, m.output, int8_storage);
  AddVector(w, "output_norm.weight", m.final_norm);
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const LayerWeights& L = m.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    AddVector(w, p + "attn_norm.weight", L.attn_norm);
    AddBitLinear(w, p + "attn_qkv", L.qkv, scale_storage);
    AddVector(w, p + "attn_sub_norm.weight", L.attn_sub_norm);
    AddBitLinear(w, p + "attn_output", L.o, scale_storage);
    AddVector(w, p + "ffn_norm.weight", L.ffn_norm);
    AddBitLinear(w, p + "ffn_gate_up", L.gate_up, scale_storage);
    AddVector(w, p + "ffn_sub_norm.weight", L.ffn_sub_norm);
    AddBitLinear(w, p + "ffn_down", L.down, scale_storage);
  }
  w.Write(path);
}

ModelWeights LoadNativeGguf(std::shared_ptr<gguf::File> file) {
  const gguf::File& f = *file;
  ModelWeights m;
  m.source = f.path();
  m.storage.push_back(file);
  const uint64_t version = f.GetUint(Key("format_version"));
  Check(version == 1, f.path(), "metadata '" + Key("format_version") + "' is " + std::to_string(version) +
                                    "; this build reads version 1 (re-run bitnet convert)");
  ModelConfig& c = m.config;
  c.n_layers = GetDim(f, "block_count");
  c.hidden = GetDim(f, "embedding_length");
  c.ffn = GetDim(f, "feed_forward_length");
  c.n_heads = GetDim(f, "attention.head_count");
  c.n_kv_heads = GetDim(f, "attention.head_count_kv");
  c.head_dim = GetDim(f, "attention.key_length");
  c.max_context = GetDim(f, "context_length");
  c.vocab = GetDim(f, "vocab_size");
  c.rope_theta = ReadGgufFloat(f, Key("rope.freq_base"));
  c.norm_eps = ReadGgufFloat(f, Key("attention.layer_norm_rms_epsilon"));
  const std::string act = f.GetString(Key("ffn_activation"));
  Check(act == "relu2" || act == "silu", f.path(), "metadata '" + Key("ffn_activation") + "' is '" + Printable(act) + "'");
  c.relu2 = act == "relu2";
  c.bos_id = ReadGgufTokenId(f, "tokenizer.ggml.bos_token_id", c.bos_id);
  c.eos_id = ReadGgufTokenId(f, "tokenizer.ggml.eos_token_id", c.eos_id);
  ValidateConfig(c, f.path(), GgufConfigFieldNames(kNativeArch));
  m.container = "gguf (bitnet-npu)";
  m.format = f.GetString(Key("source_format"));
  m.scale_convention = f.GetString(Key("scale_convention"));
  if (f.Has(Key("sampling.temperature"))) {
    m.sampling.temperature = ReadGgufFloat(f, Key("sampling.temperature"));
    m.sampling.top_p = ReadGgufFloat(f, Key("sampling.top_p"));
    const uint64_t top_k = f.GetUint(Key("sampling.top_k"));
    Check(top_k < (1u << 30), f.path(), "metadata '" + Key("sampling.top_k") + "' is out of range");
    m.sampling.top_k = static_cast<int>(top_k);
    // The same ranges as generation_config.json, so a converted model cannot
    // smuggle in a NaN temperature that the directory form would refuse.
    ValidateSampling(m.sampling, f.path(), "metadata '" + Key("sampling.temperature") + "'",
                     "metadata '" + Key("sampling.top_p") + "'", "metadata '" + Key("sampling.top_k") + "'");
  }
  m.activation_note = std::string(c.relu2 ? "relu^2" : "SiLU") + " FFN gate (" + Key("ffn_activation") + ")";

  NativeReader r(f);
  const int64_t hd = c.head_dim, q_rows = c.n_heads * hd, kv_rows = c.n_kv_heads * hd;
  m.embed = r.Dense("token_embd.weight", c.vocab, c.hidden);
  m.embed_file = f.mapped();
  m.output = f.FindTensor("output.weight") != nullptr ? r.Dense("output.weight", c.vocab, c.hidden) : m.embed;
  r.AttachInt8Output(m.output);
  m.final_norm = r.Vector("output_norm.weight", c.hidden);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights L;
    L.attn_norm = r.Vector(p + "attn_norm.weight", c.hidden);
    L.qkv = r.BitLinear(p + "attn_qkv", c.hidden, {q_rows, kv_rows, kv_rows});
    L.attn_sub_norm = r.Vector(p + "attn_sub_norm.weight", c.hidden);
    L.o = r.BitLinear(p + "attn_output", q_rows, {c.hidden});
    L.ffn_norm = r.Vector(p + "ffn_norm.weight", c.hidden);
    L.gate_up = r.BitLinear(p + "ffn_gate_up", c.hidden, {c.ffn, c.ffn});
    L.ffn_sub_norm = r.Vector(p + "ffn_sub_norm.weight", c.ffn);
    L.down = r.BitLinear(p + "ffn_down", c.ffn, {c.hidden});
    m.layers.push_back(std::move(L));
  }
  return m;
}

}  // namespace bitnet
