// The NPU program npu/iron_record captured from npu/designs/bitlinear_gemv.py,
// one per generation, committed under npu/recorded/ and compiled into the
// binary. Its configuration (fifos, workers, kernels) is the one PDI; the
// runtime sequence in the file is only the reference shape's (2560x2560, one
// token): dispatches use MakeNpuRuntimeSequence(plan). A test re-records the
// design and fails when the committed file is stale.
#pragma once
#include <memory>
#include <string>

#include "backend/npu/program_interpreter.h"
#include "backend/npu/tiling_plan.h"

namespace bitnet {

const std::string& RecordedNpuProgramJson(NpuGeneration g);
// Parsed once per generation.
std::shared_ptr<const NpuProgram> RecordedNpuProgram(NpuGeneration g);

// A committed recording's program, checked to be valid JSON recorded for g;
// `design` names the file in errors (npu/recorded/<design>_<g>.json).
std::shared_ptr<const NpuProgram> ParseNpuRecording(const std::string& json, const std::string& design,
                                                    NpuGeneration g);

// The shape and tokens the committed recordings were made with.
inline constexpr int64_t kNpuRecordedRows = 2560, kNpuRecordedCols = 2560, kNpuRecordedTokens = 1;

}  // namespace bitnet
