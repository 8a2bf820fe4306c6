#include "backend/npu/recorded_program.h"

#include <mutex>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace bitnet {

// Defined in the file CMake generates from npu/recorded/*.json.
extern const char* const kNpuRecordingNpu1;
extern const char* const kNpuRecordingNpu2;

const std::string& RecordedNpuProgramJson(NpuGeneration g) {
  static const std::string npu1 = kNpuRecordingNpu1, npu2 = kNpuRecordingNpu2;
  return g == NpuGeneration::kNpu1 ? npu1 : npu2;
}

std::shared_ptr<const NpuProgram> ParseNpuRecording(const std::string& json, const std::string& design,
                                                    NpuGeneration g) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  Check(!j.is_discarded(), "npu recording",
        "npu/recorded/" + design + "_" + NpuGenerationName(g) + ".json is not valid JSON");
  std::shared_ptr<const NpuProgram> p = NpuProgram::FromRecording(j);
  Check(p->device() == NpuGenerationName(g), "npu recording",
        "recorded for " + p->device() + ", expected " + NpuGenerationName(g));
  return p;
}

std::shared_ptr<const NpuProgram> RecordedNpuProgram(NpuGeneration g) {
  static std::mutex mu;
  static std::shared_ptr<const NpuProgram> programs[2];
  std::lock_guard<std::mutex> lock(mu);
  auto& p = programs[g == NpuGeneration::kNpu1 ? 0 : 1];
  if (!p) p = ParseNpuRecording(RecordedNpuProgramJson(g), "bitlinear", g);
  return p;
}

}  // namespace bitnet
