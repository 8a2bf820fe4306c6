#include "model/synth.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "kernels/quantize.h"
#include "model/load_hf.h"
#include "util/error.h"
#include "util/half.h"
#include "util/mapped_file.h"
#include "util/progress.h"
#include "util/thread_pool.h"

namespace bitnet {
namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// n Gaussian values (mean, std) rounded to bf16. Chunks get their own seeds,
// so the result does not depend on the thread count.
std::vector<uint16_t> GaussianBf16(int64_t n, float mean, float stddev, uint64_t seed, ThreadPool& pool) {
  std::vector<uint16_t> out(static_cast<size_t>(n));
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  pool.ParallelFor(chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch) {
      uint64_t state = seed * 0x100000001b3ull + static_cast<uint64_t>(ch);
      const int64_t lo = ch * kChunk, hi = std::min(n, lo + kChunk);
      for (int64_t i = lo; i < hi; i += 2) {
        // Box-Muller on two 53-bit uniforms.
        const double u1 = (static_cast<double>(SplitMix64(state) >> 11) + 1.0) * 0x1.0p-53;
        const double u2 = static_cast<double>(SplitMix64(state) >> 11) * 0x1.0p-53;
        const double r = std::sqrt(-2.0 * std::log(u1));
        out[i] = F32ToBf16(static_cast<float>(mean + stddev * r * std::cos(2.0 * M_PI * u2)));
        if (i + 1 < hi) out[i + 1] = F32ToBf16(static_cast<float>(mean + stddev * r * std::sin(2.0 * M_PI * u2)));
      }
    }
  });
  return out;
}

std::vector<uint8_t> AsBytes(const std::vector<uint16_t>& v) {
  std::vector<uint8_t> b(v.size() * 2);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

}  // namespace

ModelConfig SynthPresetConfig(const std::string& preset) {
  ModelConfig c;  // defaults are the real 2B-4T
  if (preset == "2b") return c;
  if (preset == "tiny") {
    // Small, but every awkward case is kept: GQA (2 query heads per KV head),
    // an FFN width that is not a multiple of 128 (padded columns in down_proj).
    c.hidden = 128;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 32;
    c.ffn = 320;
    c.max_context = 4096;
    return c;
  }
  throw Error("--preset: unknown preset '" + preset + "' (expected tiny or 2b)");
}

void WriteSyntheticModel(const std::string& dir, const SynthOptions& o) {
  ThreadPool pool(o.n_threads > 0 ? o.n_threads : ThreadPool::HardwareThreads());
  namespace fs = std::filesystem;
  ModelConfig c = SynthPresetConfig(o.preset);
  if (o.vocab > 0) c.vocab = o.vocab;
  // The loaders require bos/eos inside the vocabulary; a reduced vocabulary
  // keeps them as its last two ids (the real ones, 128000/128001, sit near
  // the end of the 128256 too).
  if (c.eos_id >= c.vocab || c.bos_id >= c.vocab) {
    Check(c.vocab >= 2, "--vocab", "must be at least 2 (bos and eos)");
    c.bos_id = c.vocab - 2;
    c.eos_id = c.vocab - 1;
  }
  Check(o.shards >= 1 && o.shards <= 99, "--shards", "must be between 1 and 99");
  Check(o.linear_class == "autobitlinear" || o.linear_class == "bitlinear", "--linear-class",
        "expected autobitlinear or bitlinear");
  std::error_code ec;
  fs::create_directories(dir, ec);
  Check(!ec, dir, "cannot create directory: " + ec.message());

  nlohmann::ordered_json config = {
      {"architectures", {"BitNetForCausalLM"}},
      {"model_type", "bitnet"},
      {"hidden_act", "relu2"},
      {"hidden_size", c.hidden},
      {"intermediate_size", c.ffn},
      {"num_hidden_layers", c.n_layers},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"max_position_embeddings", c.max_context},
      {"rms_norm_eps", c.norm_eps},
      {"rope_theta", c.rope_theta},
      {"tie_word_embeddings", true},
      {"vocab_size", c.vocab},
      {"bos_token_id", c.bos_id},
      {"eos_token_id", c.eos_id},
      {"torch_dtype", "bfloat16"},
      {"quantization_config",
       {{"quant_method", "bitnet"},
        {"linear_class", o.packed ? o.linear_class : "autobitlinear"},
        {"quantization_mode", o.packed ? "offline" : "online"}}},
      {"synthetic", "random weights from bitnet synth: generated text is noise"}};
  WriteFileAtomically((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
  WriteFileAtomically(
      (fs::path(dir) / "generation_config.json").string(),
      R"({"bos_token_id": 128000, "eos_token_id": [128001, 128009], "do_sample": true, "temperature": 0.6, "top_p": 0.9})"
      "\n");
  if (!o.tokenizer.empty()) {
    fs::copy_file(o.tokenizer, fs::path(dir) / "tokenizer.json", fs::copy_options::overwrite_existing, ec);
    Check(!ec, o.tokenizer, "cannot copy tokenizer: " + ec.message());
  }

  std::vector<SafetensorsEntry> entries;
  uint64_t tensor_seed = o.seed * 1000003ull;
  auto next_seed = [&] { return SplitMix64(tensor_seed); };
  auto add_bf16 = [&](const std::string& name, std::vector<int64_t> shape, float mean, float stddev) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    entries.push_back({name, "BF16", shape, AsBytes(GaussianBf16(n, mean, stddev, next_seed(), pool))});
  };
  auto add_linear = [&](const std::string& name, int64_t out, int64_t in) {
    std::vector<uint16_t> w = GaussianBf16(out * in, 0.0f, 0.02f, next_seed(), pool);
    if (!o.packed) {
      entries.push_back({name + ".weight", "BF16", {out, in}, AsBytes(w)});
      return;
    }
    // The same bf16 master weights, ternarized as a loader would.
    std::vector<float> f(w.size());
    for (size_t i = 0; i < w.size(); ++i) f[i] = Bf16ToF32(w[i]);
    std::vector<int8_t> t(w.size());
    const float s = TernarizeAbsmean(f.data(), out * in, t.data());
    Check(out % 4 == 0, name, "packed form needs an output size divisible by 4");
    entries.push_back({name + ".weight", "U8", {out / 4, in}, PackHfPackedTernary(t.data(), out, in)});
    const uint16_t scale = F32ToBf16(o.linear_class == "autobitlinear" ? s : 1.0f / s);
    entries.push_back({name + ".weight_scale", "BF16", {1}, AsBytes({scale})});
  };

  const int64_t q_rows = static_cast<int64_t>(c.n_heads) * c.head_dim;
  const int64_t kv_rows = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
  add_bf16("model.embed_tokens.weight", {c.vocab, c.hidden}, 0.0f, 0.05f);
  add_bf16("model.norm.weight", {c.hidden}, 1.0f, 0.1f);
  // Drawing the random weights is the slow part; writing counts as one more step.
  Progress progress("synth", c.n_layers + 1);
  for (int l = 0; l < c.n_layers; ++l) {
    progress.Update(l);
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add_bf16(p + "input_layernorm.weight", {c.hidden}, 1.0f, 0.1f);
    add_bf16(p + "post_attention_layernorm.weight", {c.hidden}, 1.0f, 0.1f);
    add_bf16(p + "self_attn.attn_sub_norm.weight", {c.hidden}, 1.0f, 0.1f);
    add_bf16(p + "mlp.ffn_sub_norm.weight", {c.ffn}, 1.0f, 0.1f);
    add_linear(p + "self_attn.q_proj", q_rows, c.hidden);
    add_linear(p + "self_attn.k_proj", kv_rows, c.hidden);
    add_linear(p + "self_attn.v_proj", kv_rows, c.hidden);
    add_linear(p + "self_attn.o_proj", c.hidden, q_rows);
    add_linear(p + "mlp.gate_proj", c.ffn, c.hidden);
    add_linear(p + "mlp.up_proj", c.ffn, c.hidden);
    add_linear(p + "mlp.down_proj", c.hidden, c.ffn);
  }

  progress.Update(c.n_layers);
  if (o.shards == 1) {
    WriteSafetensors((fs::path(dir) / "model.safetensors").string(), entries);
    return;
  }
  // Round-robin tensors over the shards, and an index naming each one's file.
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  std::vector<std::vector<SafetensorsEntry>> shards(static_cast<size_t>(o.shards));
  char name[64];
  for (size_t i = 0; i < entries.size(); ++i) {
    const int s = static_cast<int>(i % static_cast<size_t>(o.shards));
    std::snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", s + 1, o.shards);
    weight_map[entries[i].name] = name;
    shards[s].push_back(std::move(entries[i]));
  }
  for (int s = 0; s < o.shards; ++s) {
    std::snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", s + 1, o.shards);
    WriteSafetensors((fs::path(dir) / name).string(), shards[s]);
  }
  nlohmann::ordered_json index = {{"metadata", nlohmann::ordered_json::object()}, {"weight_map", weight_map}};
  WriteFileAtomically((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2) + "\n");
}

}  // namespace bitnet
