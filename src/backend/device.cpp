#include "backend/device.h"

#include "util/error.h"

namespace bitnet {

DeviceKind ParseDevice(const std::string& name) {
  if (name == "auto") return DeviceKind::kAuto;
  if (name == "cpu") return DeviceKind::kCpu;
  if (name == "npu") return DeviceKind::kNpu;
  if (name == "npu-emu") return DeviceKind::kNpuEmu;
  throw Error("--device: unknown device '" + name + "' (expected auto, cpu, npu or npu-emu)");
}

BackendChoice MakeBackend(DeviceKind kind, const std::string& xclbin_dir, ThreadPool* pool) {
  if (kind == DeviceKind::kNpu || kind == DeviceKind::kNpuEmu)
    throw Error("--device: the NPU backend is not built into this binary");
  BackendChoice choice;
  choice.backend = MakeCpuBackend(pool);
  choice.reason = "device: " + choice.backend->Name() + (kind == DeviceKind::kAuto ? " (no NPU backend built)" : "");
  return choice;
}

}  // namespace bitnet
