// GGUF files for other engines: bitnet.cpp (architecture "bitnet-25", I2_S,
// like the official ggml-model-i2_s.gguf) and llama.cpp ("bitnet", TQ2_0/TQ1_0).
#pragma once
#include <string>

#include "model/weights.h"

namespace bitnet {

class Tokenizer;

void WriteBitnetCppGguf(const ModelWeights& weights, const Tokenizer* tokenizer, const std::string& path);

// format: "tq2_0" or "tq1_0".
void WriteLlamaCppGguf(const ModelWeights& weights, const Tokenizer* tokenizer, const std::string& path,
                       const std::string& format);

}  // namespace bitnet
