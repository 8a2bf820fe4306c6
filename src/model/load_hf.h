// Loads a Hugging Face BitNet directory: config.json + model.safetensors
// (or shards), bf16 master weights ("online") or packed codes ("offline").
#pragma once
#include <string>

#include "model/weights.h"

namespace bitnet {

// packed_scale: "auto" follows quantization_config.linear_class
// (autobitlinear multiplies by weight_scale, bitlinear divides); "multiply" or
// "divide" overrides it.
ModelWeights LoadHfDirectory(const std::string& dir, const std::string& packed_scale);

// Unpacks the HF packed form: U8 [out/4][in], unpacked row i*(out/4) + r is
// ((packed[r][c] >> 2i) & 3) - 1. Writes [out][in] ternary values.
void UnpackHfPackedTernary(const uint8_t* packed, int64_t out_rows, int64_t in_cols, int8_t* values);

// Inverse of UnpackHfPackedTernary (used by `bitnet synth --packed`).
std::vector<uint8_t> PackHfPackedTernary(const int8_t* values, int64_t out_rows, int64_t in_cols);

}  // namespace bitnet
