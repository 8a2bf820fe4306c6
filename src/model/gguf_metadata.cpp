#include "model/gguf_metadata.h"

#include <cmath>
#include <limits>

#include "formats/gguf.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace bitnet {

int32_t ReadGgufTokenId(const gguf::File& f, const char* key, int32_t fallback) {
  if (!f.Has(key)) return fallback;
  const uint64_t v = f.GetUint(key);
  Check(v < (uint64_t{1} << 31), f.path(),
        std::string("metadata '") + key + "': " + std::to_string(v) + " is outside the vocabulary");
  return static_cast<int32_t>(v);
}

float ReadGgufFloat(const gguf::File& f, const std::string& key) {
  const double v = f.GetFloat(key);
  Check(!std::isfinite(v) || std::fabs(v) <= std::numeric_limits<float>::max(), f.path(),
        "metadata '" + key + "': " + std::to_string(v) + " is outside the float32 range");
  return static_cast<float>(v);
}

void WriteGgufModelConfig(gguf::Writer& w, const std::string& arch, const ModelConfig& c) {
  auto key = [&](const char* s) { return arch + "." + s; };
  w.SetString("general.architecture", arch);
  w.SetUint32(key("vocab_size"), static_cast<uint32_t>(c.vocab));
  w.SetUint32(key("context_length"), static_cast<uint32_t>(c.max_context));
  w.SetUint32(key("embedding_length"), static_cast<uint32_t>(c.hidden));
  w.SetUint32(key("block_count"), static_cast<uint32_t>(c.n_layers));
  w.SetUint32(key("feed_forward_length"), static_cast<uint32_t>(c.ffn));
  w.SetUint32(key("rope.dimension_count"), static_cast<uint32_t>(c.head_dim));
  w.SetUint32(key("attention.head_count"), static_cast<uint32_t>(c.n_heads));
  w.SetUint32(key("attention.head_count_kv"), static_cast<uint32_t>(c.n_kv_heads));
  w.SetUint32(key("attention.key_length"), static_cast<uint32_t>(c.head_dim));
  w.SetUint32(key("attention.value_length"), static_cast<uint32_t>(c.head_dim));
  w.SetFloat32(key("attention.layer_norm_rms_epsilon"), c.norm_eps);
  w.SetFloat32(key("rope.freq_base"), c.rope_theta);
  // Read back by this project only: readers of the 'bitnet' architecture
  // assume SiLU, so the activation the weights were trained with rides along.
  w.SetString("bitnet-npu.ffn_activation", c.relu2 ? "relu2" : "silu");
}

void WriteGgufTokenizer(gguf::Writer& w, const ModelConfig& c, const Tokenizer* tokenizer) {
  w.SetUint32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(c.bos_id));
  w.SetUint32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(c.eos_id));
  w.SetBool("tokenizer.ggml.add_bos_token", true);
  if (tokenizer == nullptr) return;
  w.SetString("tokenizer.ggml.model", "gpt2");
  w.SetString("tokenizer.ggml.pre", "llama-bpe");
  w.SetStringArray("tokenizer.ggml.tokens", tokenizer->tokens());
  w.SetInt32Array("tokenizer.ggml.token_type", tokenizer->token_types());
  w.SetStringArray("tokenizer.ggml.merges", tokenizer->merges());
  w.SetUint32("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(tokenizer->eot_id()));
  // No chat template: the one in the official file is wrong, and this
  // project never reads GGUF templates (it formats chats itself).
}

}  // namespace bitnet
