#include "model/config.h"

#include <fstream>
#include <nlohmann/json.hpp>

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
  Check(v > 0, path, std::string("field '") + key + "' must be positive");
  return static_cast<float>(v);
}

}  // namespace

void ValidateConfig(const ModelConfig& c, const std::string& where) {
  Check(c.hidden > 0 && c.n_layers > 0 && c.n_heads > 0 && c.n_kv_heads > 0 && c.ffn > 0 && c.vocab > 0, where,
        "every dimension must be positive");
  Check(c.n_heads % c.n_kv_heads == 0, where,
        "num_attention_heads (" + std::to_string(c.n_heads) + ") must be a multiple of num_key_value_heads (" +
            std::to_string(c.n_kv_heads) + ")");
  Check(c.head_dim % 2 == 0, where, "head dimension must be even for RoPE");
  Check(c.n_heads * c.head_dim == c.hidden, where,
        "num_attention_heads x head_dim must equal hidden_size (attn_sub_norm has hidden_size weights)");
  Check(c.max_context > 0, where, "max_position_embeddings must be positive");
}

SamplingParams ReadGenerationConfig(const std::string& path) {
  SamplingParams p;
  std::ifstream in(path);
  if (!in.good()) return p;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  Check(j.is_object(), path, "not a JSON object");
  if (j.contains("do_sample") && j["do_sample"].is_boolean() && !j["do_sample"].get<bool>()) p.temperature = 0.0f;
  if (j.contains("temperature") && p.temperature > 0) {
    Check(j["temperature"].is_number() && j["temperature"].get<double>() >= 0, path, "field 'temperature' must be a number >= 0");
    p.temperature = j["temperature"].get<float>();
  }
  if (j.contains("top_p")) {
    Check(j["top_p"].is_number() && j["top_p"].get<double>() > 0 && j["top_p"].get<double>() <= 1, path,
          "field 'top_p' must be in (0, 1]");
    p.top_p = j["top_p"].get<float>();
  }
  if (j.contains("top_k")) {
    Check(j["top_k"].is_number_integer() && j["top_k"].get<int64_t>() >= 0, path, "field 'top_k' must be an integer >= 0");
    p.top_k = j["top_k"].get<int>();
  }
  return p;
}

HfConfig ReadHfConfig(const std::string& path) {
  std::ifstream in(path);
  Check(in.good(), path, "cannot open");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  Check(j.is_object(), path, "not a JSON object");
  if (j.contains("model_type")) {
    Check(j["model_type"].is_string(), path, "field 'model_type' must be a string");
    const std::string type = j["model_type"].get<std::string>();
    Check(type == "bitnet", path, "unsupported model_type '" + type + "' (expected 'bitnet')");
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
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer()) m.bos_id = j["bos_token_id"].get<int32_t>();
  if (j.contains("eos_token_id") && j["eos_token_id"].is_number_integer()) m.eos_id = j["eos_token_id"].get<int32_t>();
  if (j.contains("hidden_act")) {
    Check(j["hidden_act"].is_string(), path, "field 'hidden_act' must be a string");
    const std::string act = j["hidden_act"].get<std::string>();
    Check(act == "relu2" || act == "silu", path, "unsupported hidden_act '" + act + "' (expected relu2 or silu)");
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
            "unsupported quantization_config.quantization_mode '" + cfg.quant.mode + "' (expected online or offline)");
    }
    if (q.contains("linear_class")) {
      Check(q["linear_class"].is_string(), path, "field 'quantization_config.linear_class' must be a string");
      cfg.quant.linear_class = q["linear_class"].get<std::string>();
      Check(cfg.quant.linear_class == "autobitlinear" || cfg.quant.linear_class == "bitlinear", path,
            "unsupported quantization_config.linear_class '" + cfg.quant.linear_class + "'");
    }
  }
  ValidateConfig(m, path);
  return cfg;
}

}  // namespace bitnet
