// Synthetic models (WriteSyntheticModel in the public API).
#pragma once
#include <string>

#include "bitnet/bitnet.h"

namespace bitnet {

// The config of a preset: "tiny" (every awkward case, small) or "2b" (the real shape).
ModelConfig SynthPresetConfig(const std::string& preset);

}  // namespace bitnet
