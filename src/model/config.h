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

// Checks the shape relations the forward pass relies on; throws Error naming `where`.
void ValidateConfig(const ModelConfig& c, const std::string& where);

}  // namespace bitnet
