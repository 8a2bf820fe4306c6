// Model hyperparameters from a Hugging Face config.json, validated.
#pragma once
#include <string>

#include "bitnet/bitnet.h"

namespace bitnet {

struct HfQuantization {
  std::string mode = "online";             // online: bf16 master weights; offline: packed U8 codes
  std::string linear_class = "bitlinear";  // autobitlinear multiplies by weight_scale, bitlinear divides
};

struct HfConfig {
  ModelConfig model;
  HfQuantization quant;
  bool tie_word_embeddings = true;
};

// Reads and validates config.json; throws Error naming the file and field.
HfConfig ReadHfConfig(const std::string& path);

// Sampling defaults from generation_config.json (temperature, top_p, top_k);
// the published defaults when the file is absent. Throws Error on bad values.
SamplingParams ReadGenerationConfig(const std::string& path);

// The names a config's fields carry in one source, for error messages: the
// same check reads "field 'rope_theta'" for config.json and "metadata
// 'bitnet-25.rope.freq_base'" for a GGUF file.
struct ConfigFieldNames {
  std::string hidden = "field 'hidden_size'";
  std::string n_layers = "field 'num_hidden_layers'";
  std::string n_heads = "field 'num_attention_heads'";
  std::string n_kv_heads = "field 'num_key_value_heads'";
  std::string head_dim = "field 'head_dim'";
  std::string ffn = "field 'intermediate_size'";
  std::string vocab = "field 'vocab_size'";
  std::string max_context = "field 'max_position_embeddings'";
  std::string norm_eps = "field 'rms_norm_eps'";
  std::string rope_theta = "field 'rope_theta'";
  std::string bos = "field 'bos_token_id'";
  std::string eos = "field 'eos_token_id'";
};

// The names of the llama.cpp-style GGUF keys under `arch` (as read by the
// native and foreign GGUF loaders); vocab names the token_embd rows.
ConfigFieldNames GgufConfigFieldNames(const std::string& arch);

// The one range check of a model config, whatever file it came from: every
// dimension positive and below 2^30, the shape relations the forward pass
// relies on, rms epsilon and RoPE base finite and positive, bos/eos ids inside
// the vocabulary. Throws Error "<where>: <field name>: ...".
void ValidateConfig(const ModelConfig& c, const std::string& where, const ConfigFieldNames& names = {});

// Sampling defaults (generation_config.json, or a native GGUF's
// bitnet-npu.sampling.*): temperature finite and >= 0, top_p in (0, 1],
// top_k >= 0. Throws Error naming `where` and the field.
void ValidateSampling(const SamplingParams& p, const std::string& where, const std::string& temperature_name,
                      const std::string& top_p_name, const std::string& top_k_name);

}  // namespace bitnet
