#include "model/config.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "formats/json_file.h"
#include "util/error.h"

namespace bitnet {
namespace {

int GetInt(const nlohmann::json& j, const std::string& path, const char* key, int fallback, bool required) {
  if (!j.contains(key)) {
    Check(!required, path, std::string("missing field '") + key + "'");
    return fallback;
  }
  Check(j[key].is_number_integer(), path, std::string("field '") + key + "' must be an integer");
  const int64_t v = j[key].get<int64_t>();
  Check(v > 0 && v < (1 << 30), path, std::string("field '") + key + "' is out of range: " + std::to_string(v));
  return static_cast<int>(v);
}

float GetFloat(const nlohmann::json& j, const std::string& path, const char* key, float fallback) {
  if (!j.contains(key)) return fallback;
  Check(j[key].is_number(), path, std::string("field '") + key + "' must be a number");
  const double v = j[key].get<double>();
  // The upper bound keeps the float cast defined (a double past FLT_MAX has no float).
  Check(v > 0 && v <= std::numeric_limits<float>::max(), path,
        std::string("field '") + key + "' must be positive and fit a float32");
  return static_cast<float>(v);
}

// A token id field; only a plain integer is read (Hugging Face also allows a
// list of eos ids, which keeps the default here as before). Range against the
// vocabulary is ValidateConfig's; this only keeps the value inside int32.
int32_t GetTokenId(const nlohmann::json& j, const std::string& path, const char* key, int32_t fallback) {
  if (!j.contains(key) || !j[key].is_number_integer()) return fallback;
  const int64_t v = j[key].get<int64_t>();
  Check(v >= 0 && v < (int64_t{1} << 31), path,
        std::string("field '") + key + "': " + std::to_string(v) + " is outside the vocabulary");
  return static_cast<int32_t>(v);
}

}  // namespace

ConfigFieldNames GgufConfigFieldNames(const std::string& arch) {
  auto key = [&](const char* k) { return "metadata '" + Printable(arch) + "." + k + "'"; };
  ConfigFieldNames n;
  n.hidden = key("embedding_length");
  n.n_layers = key("block_count");
  n.n_heads = key("attention.head_count");
  n.n_kv_heads = key("attention.head_count_kv");
  n.head_dim = key("attention.key_length");
  n.ffn = key("feed_forward_length");
  n.vocab = "tensor 'token_embd.weight' rows";
  n.max_context = key("context_length");
  n.norm_eps = key("attention.layer_norm_rms_epsilon");
  n.rope_theta = key("rope.freq_base");
  n.bos = "metadata 'tokenizer.ggml.bos_token_id'";
  n.eos = "metadata 'tokenizer.ggml.eos_token_id'";
  return n;
}

void ValidateConfig(const ModelConfig& c, const std::string& where, const ConfigFieldNames& names) {
  auto dim = [&](int v, const std::string& name) {
    Check(v > 0 && v < (1 << 30), where, name + ": " + std::to_string(v) + " is out of range (1 to 2^30 - 1)");
  };
  dim(c.hidden, names.hidden);
  dim(c.n_layers, names.n_layers);
  dim(c.n_heads, names.n_heads);
  dim(c.n_kv_heads, names.n_kv_heads);
  dim(c.head_dim, names.head_dim);
  dim(c.ffn, names.ffn);
  dim(c.vocab, names.vocab);
  dim(c.max_context, names.max_context);
  Check(c.n_heads % c.n_kv_heads == 0, where,
        names.n_heads + " (" + std::to_string(c.n_heads) + ") must be a multiple of " + names.n_kv_heads + " (" +
            std::to_string(c.n_kv_heads) + ")");
  Check(c.head_dim % 2 == 0, where, names.head_dim + ": " + std::to_string(c.head_dim) + " must be even for RoPE");
  Check(static_cast<int64_t>(c.n_heads) * c.head_dim == c.hidden, where,
        names.n_heads + " x " + names.head_dim + " must equal " + names.hidden +
            " (attn_sub_norm has hidden_size weights)");
  // NaN fails both comparisons; an infinite or zero epsilon/base turns every
  // activation or rotation into NaN without any other error.
  Check(std::isfinite(c.norm_eps) && c.norm_eps > 0, where,
        names.norm_eps + ": " + std::to_string(c.norm_eps) + " must be finite and positive");
  Check(std::isfinite(c.rope_theta) && c.rope_theta > 0, where,
        names.rope_theta + ": " + std::to_string(c.rope_theta) + " must be finite and positive");
  Check(c.bos_id >= 0 && c.bos_id < c.vocab, where,
        names.bos + ": " + std::to_string(c.bos_id) + " is outside the vocabulary [0, " + std::to_string(c.vocab) + ")");
  Check(c.eos_id >= 0 && c.eos_id < c.vocab, where,
        names.eos + ": " + std::to_string(c.eos_id) + " is outside the vocabulary [0, " + std::to_string(c.vocab) + ")");
}

void ValidateSampling(const SamplingParams& p, const std::string& where, const std::string& temperature_name,
                      const std::string& top_p_name, const std::string& top_k_name) {
  Check(std::isfinite(p.temperature) && p.temperature >= 0, where, temperature_name + " must be a number >= 0");
  Check(std::isfinite(p.top_p) && p.top_p > 0 && p.top_p <= 1, where, top_p_name + " must be in (0, 1]");
  Check(p.top_k >= 0, where, top_k_name + " must be an integer >= 0");
}

SamplingParams ReadGenerationConfig(const std::string& path) {
  SamplingParams p;
  // Absent means the published defaults; anything else that exists must be a
  // readable regular file (a FIFO here used to block the load forever).
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) return p;
  const nlohmann::json j = ReadStrictJsonFile(path);
  Check(j.is_object(), path, "not a JSON object");
  if (j.contains("do_sample") && j["do_sample"].is_boolean() && !j["do_sample"].get<bool>()) p.temperature = 0.0f;
  if (j.contains("temperature") && p.temperature > 0) {
    Check(j["temperature"].is_number(), path, "field 'temperature' must be a number >= 0");
    p.temperature = j["temperature"].get<float>();
  }
  if (j.contains("top_p")) {
    Check(j["top_p"].is_number(), path, "field 'top_p' must be in (0, 1]");
    p.top_p = j["top_p"].get<float>();
  }
  if (j.contains("top_k")) {
    Check(j["top_k"].is_number_integer() && j["top_k"].get<int64_t>() >= 0 && j["top_k"].get<int64_t>() < (1 << 30),
          path, "field 'top_k' must be an integer >= 0");
    p.top_k = j["top_k"].get<int>();
  }
  ValidateSampling(p, path, "field 'temperature'", "field 'top_p'", "field 'top_k'");
  return p;
}

HfConfig ReadHfConfig(const std::string& path) {
  const nlohmann::json j = ReadStrictJsonFile(path);
  Check(j.is_object(), path, "not a JSON object");
  if (j.contains("model_type")) {
    Check(j["model_type"].is_string(), path, "field 'model_type' must be a string");
    const std::string type = j["model_type"].get<std::string>();
    Check(type == "bitnet", path, "unsupported model_type '" + Printable(type) + "' (expected 'bitnet')");
  }
  HfConfig cfg;
  ModelConfig& m = cfg.model;
  m.hidden = GetInt(j, path, "hidden_size", 0, true);
  m.n_layers = GetInt(j, path, "num_hidden_layers", 0, true);
  m.n_heads = GetInt(j, path, "num_attention_heads", 0, true);
  m.n_kv_heads = GetInt(j, path, "num_key_value_heads", m.n_heads, false);
  m.ffn = GetInt(j, path, "intermediate_size", 0, true);
  m.vocab = GetInt(j, path, "vocab_size", 0, true);
  m.max_context = GetInt(j, path, "max_position_embeddings", 4096, false);
  m.norm_eps = GetFloat(j, path, "rms_norm_eps", 1e-5f);
  m.rope_theta = GetFloat(j, path, "rope_theta", 10000.0f);
  Check(m.hidden % m.n_heads == 0, path, "hidden_size must be a multiple of num_attention_heads");
  m.head_dim = GetInt(j, path, "head_dim", m.hidden / m.n_heads, false);
  m.bos_id = GetTokenId(j, path, "bos_token_id", m.bos_id);
  m.eos_id = GetTokenId(j, path, "eos_token_id", m.eos_id);
  if (j.contains("hidden_act")) {
    Check(j["hidden_act"].is_string(), path, "field 'hidden_act' must be a string");
    const std::string act = j["hidden_act"].get<std::string>();
    Check(act == "relu2" || act == "silu", path, "unsupported hidden_act '" + Printable(act) + "' (expected relu2 or silu)");
    m.relu2 = act == "relu2";
  }
  if (j.contains("tie_word_embeddings")) {
    Check(j["tie_word_embeddings"].is_boolean(), path, "field 'tie_word_embeddings' must be a boolean");
    cfg.tie_word_embeddings = j["tie_word_embeddings"].get<bool>();
  }
  if (j.contains("quantization_config")) {
    const auto& q = j["quantization_config"];
    Check(q.is_object(), path, "field 'quantization_config' must be an object");
    if (q.contains("quantization_mode")) {
      Check(q["quantization_mode"].is_string(), path, "field 'quantization_config.quantization_mode' must be a string");
      cfg.quant.mode = q["quantization_mode"].get<std::string>();
      Check(cfg.quant.mode == "online" || cfg.quant.mode == "offline", path,
            "unsupported quantization_config.quantization_mode '" + Printable(cfg.quant.mode) + "' (expected online or offline)");
    }
    if (q.contains("linear_class")) {
      Check(q["linear_class"].is_string(), path, "field 'quantization_config.linear_class' must be a string");
      cfg.quant.linear_class = q["linear_class"].get<std::string>();
      Check(cfg.quant.linear_class == "autobitlinear" || cfg.quant.linear_class == "bitlinear", path,
            "unsupported quantization_config.linear_class '" + Printable(cfg.quant.linear_class) + "'");
    }
  }
  ValidateConfig(m, path);
  return cfg;
}

}  // namespace bitnet
