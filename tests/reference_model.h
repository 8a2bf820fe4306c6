// An independent float64 implementation of BitNet b1.58's published
// semantics (DESIGN.md section 2), written straight from the math with no
// code shared with the engine except the safetensors reader: the oracle for
// the engine's logits.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bitnet::testing {

// Logits [ids.size()][vocab] of an HF bf16 ("online") model directory.
std::vector<double> ReferenceLogits(const std::string& hf_dir, const std::vector<int32_t>& ids);

}  // namespace bitnet::testing
