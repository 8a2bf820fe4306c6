#include "backend/device.h"

#include <cstdlib>
#include <filesystem>

#include "backend/npu/emulator.h"
#include "backend/npu/npu_backend.h"
#include "backend/npu/xrt_runtime.h"
#include "util/error.h"

namespace bitnet {
namespace {

constexpr const char* kAccelNode = "/dev/accel/accel0";

// Generation the emulator plans for: BITNET_NPU_GEN, else npu2 (the larger array).
NpuGeneration EmulatedGeneration() {
  const char* env = std::getenv("BITNET_NPU_GEN");
  return env && *env ? ParseNpuGeneration(env) : NpuGeneration::kNpu2;
}

// Opens the NPU backend or throws Error with the reason it cannot.
std::unique_ptr<Backend> OpenNpu(const std::string& xclbin_dir, ThreadPool* pool) {
  if (!XrtBuiltIn())
    throw Error("this binary was built without XRT (reconfigure with -DBITNET_XRT=ON on a machine with XRT)");
  if (!std::filesystem::exists(kAccelNode))
    throw Error(std::string("no XRT device found (") + kAccelNode + " missing; is the amdxdna driver loaded?)");
  FindNpuArtifacts(xclbin_dir);  // a clear message before XRT's own
  return MakeNpuBackend(OpenXrtExecutor(xclbin_dir), pool);
}

}  // namespace

DeviceKind ParseDevice(const std::string& name) {
  if (name == "auto") return DeviceKind::kAuto;
  if (name == "cpu") return DeviceKind::kCpu;
  if (name == "npu") return DeviceKind::kNpu;
  if (name == "npu-emu") return DeviceKind::kNpuEmu;
  throw Error("--device: unknown device '" + name + "' (expected auto, cpu, npu or npu-emu)");
}

BackendChoice MakeBackend(DeviceKind kind, const std::string& xclbin_dir, ThreadPool* pool) {
  const std::string dir = xclbin_dir.empty() ? "build/npu" : xclbin_dir;
  BackendChoice choice;
  switch (kind) {
    case DeviceKind::kCpu:
      choice.backend = MakeCpuBackend(pool);
      choice.reason = "device: " + choice.backend->Name();
      return choice;
    case DeviceKind::kNpuEmu:
      choice.backend = MakeNpuBackend(MakeNpuEmulator(EmulatedGeneration(), pool), pool);
      choice.reason = "device: " + choice.backend->Name() + " — the NPU design emulated on the CPU (slow; for testing)";
      return choice;
    case DeviceKind::kNpu:
      try {
        choice.backend = OpenNpu(dir, pool);
      } catch (const Error& e) {
        throw Error(std::string("--device npu: ") + e.what());
      }
      choice.reason = "device: " + choice.backend->Name();
      return choice;
    case DeviceKind::kAuto:
      try {
        choice.backend = OpenNpu(dir, pool);
        choice.reason = "device: " + choice.backend->Name();
      } catch (const Error& e) {
        choice.backend = MakeCpuBackend(pool);
        choice.reason = "device: " + choice.backend->Name() + " — NPU not used: " + e.what();
      }
      return choice;
  }
  throw Error("--device: unhandled device kind");
}

}  // namespace bitnet
