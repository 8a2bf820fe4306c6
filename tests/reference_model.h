// The float64 oracle for an HF bf16 ("online") model directory: the master
// weights are ternarized here from the math in double, and the forward pass is
// ReferenceForward (gguf_test_writers.h), written straight from docs/MODEL.md
// with no code shared with the engine except the safetensors reader.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bitnet::testing {

// Logits [ids.size()][vocab].
std::vector<double> ReferenceLogits(const std::string& hf_dir, const std::vector<int32_t>& ids);

}  // namespace bitnet::testing
