// GGUF files made by other engines (bitnet.cpp's I2_S, llama.cpp's TQ2_0/TQ1_0).
// docs/FORMATS.md lists what each converter writes and the sources read.
#include <cctype>
#include <cmath>
#include <cstring>

#include "formats/ggml_types.h"
#include "formats/gguf.h"
#include "model/config.h"
#include "model/gguf_metadata.h"
#include "model/foreign_ternary.h"
#include "model/model_impl.h"
#include "util/error.h"

namespace bitnet {
namespace {

// What each architecture string means, from the engine that reads it.
struct ForeignArch {
  const char* name;
  const char* engine;
  bool relu2;          // FFN gate: relu(x)^2, else SiLU
  bool qk_interleaved;  // q/k rows permuted for adjacent-pair RoPE
  const char* activation_why;
  const char* rope_why;
};

// - bitnet-25 / bitnet-b1.58: bitnet.cpp's fork builds both with
//   build_bitnet_158 (LLM_FFN_RELU_SQR). Its converter for the official file,
//   utils/convert-ms-to-gguf-bitnet.py, has the q/k permute commented out, and
//   convert-hf-to-gguf-bitnet.py's BitnetModel never permutes: rows stay in
//   Hugging Face order, which the fork ropes as NEOX (rotate_half).
// - bitnet: upstream llama.cpp's build_bitnet uses LLM_FFN_SILU (it targets
//   1bitLLM's SiLU models), lists LLM_ARCH_BITNET under LLAMA_ROPE_TYPE_NEOX,
//   and its BitnetModel converter does not permute.
constexpr ForeignArch kArchs[] = {
    {"bitnet-25", "bitnet.cpp", true, false, "bitnet.cpp builds 'bitnet-25' with build_bitnet_158 (relu^2)",
     "bitnet.cpp's converter keeps Hugging Face q/k row order (NEOX RoPE)"},
    {"bitnet-b1.58", "bitnet.cpp", true, false, "bitnet.cpp builds 'bitnet-b1.58' with build_bitnet_158 (relu^2)",
     "bitnet.cpp's converter keeps Hugging Face q/k row order (NEOX RoPE)"},
    {"bitnet", "llama.cpp", false, false, "llama.cpp builds 'bitnet' with SiLU (its build_bitnet)",
     "llama.cpp's BitnetModel converter keeps Hugging Face q/k row order (NEOX RoPE)"},
};

// The key this project's exporter adds so a relu^2 model survives a trip
// through the 'bitnet' architecture (whose readers assume SiLU).
constexpr const char* kActivationKey = "bitnet-npu.ffn_activation";

class ForeignReader {
 public:
  ForeignReader(const gguf::File& f, std::string arch) : f_(f), arch_(std::move(arch)) {}

  std::string Key(const char* suffix) const { return arch_ + "." + suffix; }
  std::string Where(const std::string& tensor) const { return f_.path() + ": tensor '" + tensor + "'"; }

  int Dim(const char* suffix) const {
    const uint64_t v = f_.GetUint(Key(suffix));
    Check(v > 0 && v < (1u << 30), f_.path(), "metadata '" + Key(suffix) + "' = " + std::to_string(v) + " is out of range");
    return static_cast<int>(v);
  }

  const gguf::TensorInfo& Tensor(const std::string& name) const {
    const gguf::TensorInfo* t = f_.FindTensor(name);
    Check(t != nullptr, f_.path(), "missing tensor '" + name + "'");
    Check(t->data != nullptr, Where(name), std::string("type ") + GgmlTypeName(t->type) + " is not known to this build");
    return *t;
  }

  std::vector<float> Vector(const std::string& name, int64_t n) const {
    const gguf::TensorInfo& t = Tensor(name);
    Check(t.dims == std::vector<uint64_t>{static_cast<uint64_t>(n)}, Where(name),
          "expected a vector of " + std::to_string(n));
    Check(t.type == kGgmlF32 || t.type == kGgmlF16 || t.type == kGgmlBF16, Where(name),
          std::string("type ") + GgmlTypeName(t.type) + ", expected F32, F16 or BF16");
    std::vector<float> v(static_cast<size_t>(n));
    DequantizeRowToF32(t.type, t.data, v.data(), n);
    return v;
  }

  // F32/F16/BF16 stay in the memory map; block types become f32 (Q8_0, Q6_K,
  // Q4_K values are f16 scale times small integers: f32 holds them exactly).
  DenseMatrixView Dense(ModelWeights& m, const std::string& name, int64_t rows, int64_t cols) const {
    const gguf::TensorInfo& t = Tensor(name);
    Check(t.dims == std::vector<uint64_t>{static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}, Where(name),
          "shape does not match [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
    DenseMatrixView v;
    v.rows = rows;
    v.cols = cols;
    switch (t.type) {
      case kGgmlF32: v.type = DenseType::kF32; v.data = t.data; return v;
      case kGgmlF16: v.type = DenseType::kF16; v.data = t.data; return v;
      case kGgmlBF16: v.type = DenseType::kBf16; v.data = t.data; return v;
      case kGgmlQ8_0:
      case kGgmlQ6_K:
      case kGgmlQ4_K: {
        std::vector<float> f(static_cast<size_t>(rows * cols));
        for (int64_t r = 0; r < rows; ++r)
          DequantizeRowToF32(t.type, t.data + r * (t.size_bytes / rows), f.data() + r * cols, cols);
        v.type = DenseType::kF32;
        v.data = m.Own(std::move(f));
        return v;
      }
      default:
        throw Error(Where(name) + ": type " + GgmlTypeName(t.type) + ", expected F32, F16, BF16, Q8_0, Q6_K or Q4_K");
    }
  }

  ForeignTernary Ternary(const std::string& base, int64_t rows, int64_t cols) const {
    const std::string name = base + ".weight";
    ForeignTernary t = DecodeForeignTernary(Tensor(name), rows, cols, Where(name));
    if (f_.FindTensor(base + ".scale") != nullptr) {
      const std::vector<float> v = Vector(base + ".scale", 1);
      Check(std::isfinite(v[0]) && v[0] > 0.0f, Where(base + ".scale"), "scale must be finite and positive");
      ApplyTensorScale(t, v[0]);
    }
    return t;
  }

 private:
  const gguf::File& f_;
  std::string arch_;
};

// llama.cpp's converter writes BitNet b1.58 2B-4T as 'bitnet' as well, and
// llama.cpp then computes it with SiLU though 2B-4T was trained with relu^2
// (its config.json: hidden_act relu2): such a file read llama.cpp's way gives
// noise. The 2B-4T family shows in what the converter copies over: the Llama 3
// BPE vocabulary, grouped-query attention and rope theta 500000, none of which
// 1bitLLM's SiLU models (Llama 2 vocabulary, n_head_kv = n_head, theta 10000)
// have. Two of the three (any one alone could be a coincidence in another SiLU
// model; a file may lack tokenizer metadata), or general.name naming 2B-4T,
// count as the family. Empty when the file does not look like 2B-4T.
std::string TwoB4TEvidence(const gguf::File& f, const ModelConfig& c) {
  auto str = [&](const char* key) { return f.Has(key) ? f.GetString(key) : std::string(); };
  // llama.cpp's converter may rewrite the name ("Bitnet B1.58 2B 4T"): compare letters and digits only.
  std::string name;
  for (char ch : str("general.name"))
    if (std::isalnum(static_cast<unsigned char>(ch)) != 0) name += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool llama3_vocab =
      str("tokenizer.ggml.pre") == "llama-bpe" || (str("tokenizer.ggml.model") == "gpt2" && c.vocab == 128256);
  const bool gqa = c.n_kv_heads < c.n_heads;
  const bool theta = c.rope_theta == 500000.0f;
  std::string seen;
  if (llama3_vocab) seen += "Llama 3 vocab";
  if (gqa) seen += std::string(seen.empty() ? "" : ", ") + "GQA";
  if (theta) seen += std::string(seen.empty() ? "" : ", ") + "rope theta 500000";
  if (name.find("2b4t") != std::string::npos)
    return "general.name '" + str("general.name") + "'" + (seen.empty() ? "" : ", " + seen);
  if (llama3_vocab + gqa + theta >= 2) return seen;
  return "";
}

std::string TypesSeen(const gguf::File& f) {
  std::string out;
  for (const char* n : {"blk.0.attn_q.weight", "blk.0.ffn_down.weight"})
    if (const gguf::TensorInfo* t = f.FindTensor(n)) {
      const std::string name = GgmlTypeName(t->type);
      if (out.find(name) == std::string::npos) out += (out.empty() ? "" : "/") + name;
    }
  return out.empty() ? "none" : out;
}

}  // namespace

ModelWeights LoadForeignGguf(std::shared_ptr<gguf::File> file, const Options&) {
  const gguf::File& f = *file;
  const std::string arch_name = f.GetString("general.architecture");
  const ForeignArch* arch = nullptr;
  for (const ForeignArch& a : kArchs)
    if (arch_name == a.name) arch = &a;
  if (arch == nullptr)
    throw Error(f.path() + ": metadata 'general.architecture': unsupported architecture '" + Printable(arch_name) +
                "' (expected bitnet-npu, bitnet-25, bitnet-b1.58 or bitnet)");
  ForeignReader r(f, arch_name);

  ModelWeights m;
  m.source = f.path();
  m.storage.push_back(file);
  ModelConfig& c = m.config;
  c.n_layers = r.Dim("block_count");
  c.hidden = r.Dim("embedding_length");
  c.ffn = r.Dim("feed_forward_length");
  c.n_heads = r.Dim("attention.head_count");
  c.n_kv_heads = f.Has(r.Key("attention.head_count_kv")) ? r.Dim("attention.head_count_kv") : c.n_heads;
  c.head_dim = f.Has(r.Key("attention.key_length"))     ? r.Dim("attention.key_length")
               : f.Has(r.Key("rope.dimension_count")) ? r.Dim("rope.dimension_count")
                                                        : c.hidden / c.n_heads;
  c.max_context = r.Dim("context_length");
  // ggml's default when a converter leaves the base out.
  c.rope_theta = f.Has(r.Key("rope.freq_base")) ? ReadGgufFloat(f, r.Key("rope.freq_base")) : 10000.0f;
  c.norm_eps = ReadGgufFloat(f, r.Key("attention.layer_norm_rms_epsilon"));
  const gguf::TensorInfo& embd = r.Tensor("token_embd.weight");
  Check(embd.dims.size() == 2 && embd.dims[0] == static_cast<uint64_t>(c.hidden) && embd.dims[1] > 0 &&
            embd.dims[1] < (1u << 30),
        r.Where("token_embd.weight"), "shape does not match embedding_length " + std::to_string(c.hidden));
  c.vocab = static_cast<int>(embd.dims[1]);
  if (f.Has(r.Key("vocab_size")))
    Check(f.GetUint(r.Key("vocab_size")) == static_cast<uint64_t>(c.vocab), f.path(),
          "metadata '" + r.Key("vocab_size") + "' disagrees with token_embd's " + std::to_string(c.vocab) + " rows");
  c.bos_id = ReadGgufTokenId(f, "tokenizer.ggml.bos_token_id", c.bos_id);
  c.eos_id = ReadGgufTokenId(f, "tokenizer.ggml.eos_token_id", c.eos_id);

  c.relu2 = arch->relu2;
  m.activation_note = std::string(c.relu2 ? "relu^2" : "SiLU") + " FFN gate (" + arch->activation_why + ")";
  if (!arch->relu2)
    if (const std::string why = TwoB4TEvidence(f, c); !why.empty()) {
      c.relu2 = true;
      m.activation_note = "relu^2 FFN gate (" + arch_name + " arch with " + why +
                          ": the 2B-4T family, trained with relu^2; " + arch->engine +
                          " itself would use SiLU; --ffn-act silu to follow it)";
    }
  if (f.Has(kActivationKey)) {
    const std::string act = f.GetString(kActivationKey);
    Check(act == "relu2" || act == "silu", f.path(), "metadata '" + std::string(kActivationKey) + "' is '" + Printable(act) + "'");
    c.relu2 = act == "relu2";
    m.activation_note = std::string(c.relu2 ? "relu^2" : "SiLU") + " FFN gate (metadata " + kActivationKey +
                        " written by bitnet-npu's exporter; " + arch->engine + " itself would use " +
                        (arch->relu2 ? "relu^2" : "SiLU") + ")";
  }
  ValidateConfig(c, f.path(), GgufConfigFieldNames(arch_name));

  m.container = "gguf (" + arch_name + ", " + TypesSeen(f) + ", from " + arch->engine + ")";
  m.format = std::string(arch->engine) + " gguf";
  m.scale_convention = std::string(arch->rope_why) +
                       "; weight = q * d: I2_S's one f32 per tensor and TQ's fp16 d per 256-weight block multiply "
                       "(bitnet.cpp: (sum - act_sum) / act_scale * scale), as does an optional <name>.scale";

  const int64_t hd = c.head_dim, q_rows = c.n_heads * hd, kv_rows = c.n_kv_heads * hd;
  m.embed = r.Dense(m, "token_embd.weight", c.vocab, c.hidden);
  m.output = f.FindTensor("output.weight") != nullptr ? r.Dense(m, "output.weight", c.vocab, c.hidden) : m.embed;
  m.final_norm = r.Vector("output_norm.weight", c.hidden);
  bool any_per_block = false, any_per_row = false;
  auto note = [&](const BitLinearWeights& bl, size_t parts) {
    any_per_block = any_per_block || !bl.block_scales.empty();
    any_per_row = any_per_row || (bl.block_scales.empty() && bl.ranges.size() > parts);
  };
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights L;
    L.attn_norm = r.Vector(p + "attn_norm.weight", c.hidden);
    L.attn_sub_norm = r.Vector(p + "attn_sub_norm.weight", c.hidden);
    L.ffn_norm = r.Vector(p + "ffn_norm.weight", c.hidden);
    L.ffn_sub_norm = r.Vector(p + "ffn_sub_norm.weight", c.ffn);
    {
      ForeignTernary q = r.Ternary(p + "attn_q", q_rows, c.hidden);
      ForeignTernary k = r.Ternary(p + "attn_k", kv_rows, c.hidden);
      ForeignTernary v = r.Ternary(p + "attn_v", kv_rows, c.hidden);
      if (arch->qk_interleaved) {
        UnpermuteRopeRows(q, c.n_heads, c.head_dim);
        UnpermuteRopeRows(k, c.n_kv_heads, c.head_dim);
      }
      L.qkv = FuseForeignTernary(m, {&q, &k, &v}, {r.Where(p + "attn_q.weight"), r.Where(p + "attn_k.weight"),
                                                   r.Where(p + "attn_v.weight")});
      note(L.qkv, 3);
    }
    {
      ForeignTernary o = r.Ternary(p + "attn_output", c.hidden, q_rows);
      L.o = FuseForeignTernary(m, {&o}, {r.Where(p + "attn_output.weight")});
      note(L.o, 1);
    }
    {
      ForeignTernary g = r.Ternary(p + "ffn_gate", c.ffn, c.hidden);
      ForeignTernary u = r.Ternary(p + "ffn_up", c.ffn, c.hidden);
      L.gate_up = FuseForeignTernary(m, {&g, &u}, {r.Where(p + "ffn_gate.weight"), r.Where(p + "ffn_up.weight")});
      note(L.gate_up, 2);
    }
    {
      ForeignTernary d = r.Ternary(p + "ffn_down", c.hidden, c.ffn);
      L.down = FuseForeignTernary(m, {&d}, {r.Where(p + "ffn_down.weight")});
      note(L.down, 1);
    }
    m.layers.push_back(std::move(L));
  }
  m.scale_convention += any_per_block ? "; some tensors have per-block scales (exact per-block path, slower)"
                        : any_per_row ? "; some tensors have per-row scales (one range per run of rows)"
                                      : "; one scale per tensor (exact int8 path)";
  return m;
}

}  // namespace bitnet
